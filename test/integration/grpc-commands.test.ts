// Commands down the StreamMetrics response stream, with a real gRPC server and the real agent
// client on loopback: only agents that announce the capability get them, and a command is
// never mistaken for an ack.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createAgentStream, type AgentStream } from '../../src/infrastructure/grpc/agent-client.js';
import { createLocalCommander } from '../../src/infrastructure/grpc/commander.js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import type { AgentCommand } from '../../src/domain/control.js';
import { batch, testLogger, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const servers: Harness[] = [];
const agents: AgentStream[] = [];
after(async () => {
  for (const a of agents) await a.close(100);
  for (const s of servers) await s.server.close(500);
});

const fastBackoff = { initialMs: 50, maxMs: 300 };
const cmd = (id: string): AgentCommand =>
  ({ id, kind: 'restart', containerId: 'cid-123', containerName: 'web-1', timeoutSec: 10, reason: 'unhealthy for 3 checks' });

test('sendCommand reaches onCommand of the capable agent, whole; acks stay acks', async () => {
  const h = await startServer();
  servers.push(h);
  const got: AgentCommand[] = [];
  const agent = createAgentStream({ address: h.address, log: testLogger(), backoff: fastBackoff, onCommand: (c) => { got.push(c); } });
  agents.push(agent);
  const base = 1_700_000_000_000;
  assert.equal(h.server.sendCommand('agent-cmd', cmd('k0')), false, 'no stream before the first batch names the agent');
  agent.send(batch('agent-cmd', base));
  await waitFor(() => agent.stats().acked === 1);

  assert.equal(h.server.sendCommand('agent-cmd', cmd('k1')), true);
  await waitFor(() => got.length === 1, 5000, 'command delivered');
  assert.deepEqual(got[0], cmd('k1'));
  assert.equal(h.server.sendCommand('someone-else', cmd('k2')), false, 'another agent id');

  // Through the local commander too (the no-Redis AgentCommander).
  assert.equal(await createLocalCommander(h.server.sendCommand).send('agent-cmd', cmd('k3')), true);
  await waitFor(() => got.length === 2, 5000, 'second command');
  assert.equal(got[1]!.id, 'k3');

  // Batches interleaved with commands are still acked one for one; no command counted as an ack or rejection.
  agent.send(batch('agent-cmd', base + 1));
  h.server.sendCommand('agent-cmd', cmd('k4'));
  agent.send(batch('agent-cmd', base + 2));
  await waitFor(() => agent.stats().acked === 3 && got.length === 3);
  const st = agent.stats();
  assert.deepEqual([st.acked, st.rejected, st.duplicates, st.queued], [3, 0, 0, 0]);
  await agent.close(1000);
  await waitFor(() => h.server.stats().agentStreams === 0, 5000, 'stream gone');
  assert.equal(h.server.sendCommand('agent-cmd', cmd('k5')), false, 'not after the agent left');
});

test('an agent without onCommand announces nothing and never gets a command; its ack counters are untouched', async () => {
  const mds: grpc.Metadata[] = [];
  const h = await startServer({ authorize: async (md) => { mds.push(md); } });
  servers.push(h);
  const acks: string[] = [];
  const agent = createAgentStream({ address: h.address, log: testLogger(), backoff: fastBackoff, onAck: (a) => acks.push(`${a.sequence}:${a.status}`) });
  agents.push(agent);
  agent.send(batch('agent-old', 1));
  await waitFor(() => agent.stats().acked === 1);
  assert.deepEqual(mds.map((m) => m.get('x-dockwatch-capabilities')), [[]], 'no capability header');

  assert.equal(h.server.sendCommand('agent-old', cmd('n1')), false);
  agent.send(batch('agent-old', 2));
  await waitFor(() => agent.stats().acked === 2);
  await new Promise((r) => setTimeout(r, 200));
  const st = agent.stats();
  assert.deepEqual([st.acked, st.rejected, st.duplicates, st.queued], [2, 0, 0, 0]);
  assert.deepEqual(acks, ['1:ack', '2:ack']);
  await agent.close(1000);
});

test('a raw stock client that announces the capability reads the command as MetricResponse.command (sequence 0, STATUS_UNSPECIFIED)', async () => {
  const h = await startServer();
  servers.push(h);
  const client = rawClient(h.address);
  const md = new grpc.Metadata();
  md.set('x-dockwatch-capabilities', 'metrics, commands');
  const call = client.StreamMetrics(md);
  const res = collect(call);
  call.write(metricDataToWire(batch('agent-raw', 7)));
  await waitFor(() => res.items.length === 1);
  assert.equal(h.server.sendCommand('agent-raw', cmd('r1')), true);
  await waitFor(() => res.items.length === 2);
  call.end();
  await res.status;
  client.close();
  assert.equal(res.items[0].status, 'ACK');
  assert.equal(res.items[0].command, null, 'an ack carries no command');
  assert.deepEqual(res.items[1], {
    agentId: 'agent-raw', sequence: 0, status: 'STATUS_UNSPECIFIED', message: '',
    command: { id: 'r1', kind: 'restart', containerId: 'cid-123', containerName: 'web-1', timeoutSec: 10, reason: 'unhealthy for 3 checks' },
  });
});
