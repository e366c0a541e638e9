// Commands across replicas through the real Redis: two gRPC servers (replicas A and B), each
// with its relay; the real agent client holds its stream on B and the command is sent on A.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AgentCommand } from '../../src/domain/control.js';
import { createAgentStream, type AgentStream } from '../../src/infrastructure/grpc/agent-client.js';
import { createRedisCommander } from '../../src/infrastructure/redis/command-relay.js';
import { createRedisClient, waitReady } from '../../src/infrastructure/redis/connection.js';
import { requireEnv } from '../helpers/env.js';
import { batch, testLogger, waitFor } from '../helpers/grpc-fixtures.js';
import { startServer, type Harness } from '../helpers/grpc-server.js';
import { memoryLog } from '../helpers/silent-log.js';
import { waitFor as waitForValue } from '../helpers/wait.js';

const url = requireEnv('TEST_REDIS_URL');
const servers: Harness[] = [];
const agents: AgentStream[] = [];
const clients: Redis[] = [];
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers) await c();
  for (const a of agents) await a.close(100);
  for (const s of servers) await s.server.close(500);
  for (const c of clients) c.disconnect();
});

const cmd = (id: string): AgentCommand =>
  ({ id, kind: 'restart', containerId: 'cid-9', containerName: 'web-9', timeoutSec: 10, reason: 'unhealthy' });

async function replica(name: string, channel: string, local: (agentId: string, c: AgentCommand) => boolean, timeoutMs = 2000) {
  const pub = createRedisClient(url, { name: `${name}-pub` });
  const sub = createRedisClient(url, { name: `${name}-sub`, subscriber: true });
  clients.push(pub, sub);
  await Promise.all([waitReady(pub), waitReady(sub)]);
  const relay = createRedisCommander({ pub, sub, replicaId: `${name}-${randomUUID()}`, local, log: memoryLog(), timeoutMs, channel });
  closers.push(() => relay.close());
  return { relay, pub, sub };
}

/** Until the channel has exactly n subscribers (the relays' subscriptions are in place, or gone). */
async function subscribed(pub: Redis, channel: string, n: number): Promise<void> {
  await waitForValue(`${n} subscribers on ${channel}`,
    async () => ((await pub.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1] === n ? true : undefined, 5000, 20);
}

test('a command sent on replica A reaches the agent whose stream is on replica B; an unknown agent is false within the timeout', async () => {
  const channel = `dwtest:commands:${randomUUID()}`;
  const [hA, hB] = [await startServer(), await startServer()];
  servers.push(hA, hB);
  const A = await replica('a', channel, hA.server.sendCommand, 1500);
  const B = await replica('b', channel, hB.server.sendCommand, 1500);
  await subscribed(A.pub, channel, 2);

  const got: AgentCommand[] = [];
  const agent = createAgentStream({ address: hB.address, log: testLogger(), backoff: { initialMs: 50, maxMs: 300 }, onCommand: (c) => { got.push(c); } });
  agents.push(agent);
  agent.send(batch('agent-on-b', 1));
  await waitFor(() => agent.stats().acked === 1);

  assert.equal(hA.server.sendCommand('agent-on-b', cmd('x0')), false, 'A itself does not hold the agent');
  const t0 = Date.now();
  assert.equal(await A.relay.send('agent-on-b', cmd('x1')), true, 'relayed through Redis to B');
  assert.ok(Date.now() - t0 < 1500, 'answered by B, not by the timeout');
  await waitFor(() => got.length === 1, 5000, 'the agent got it');
  assert.deepEqual(got[0], cmd('x1'));
  assert.equal(agent.stats().rejected, 0);

  // Local first: on B it never touches Redis.
  assert.equal(await B.relay.send('agent-on-b', cmd('x2')), true);
  await waitFor(() => got.length === 2, 5000, 'local delivery');

  // Nobody holds this agent: both replicas answer no, so false well before the timeout.
  const t1 = Date.now();
  assert.equal(await A.relay.send('agent-nowhere', cmd('x3')), false);
  const elapsed = Date.now() - t1;
  assert.ok(elapsed < 1500, `false within the timeout (${elapsed} ms)`);
  assert.equal(got.length, 2, 'nothing delivered');
});

test('with a replica that never answers (a plain subscriber on the channel), an unknown agent is false after timeoutMs', async () => {
  const channel = `dwtest:commands:${randomUUID()}`;
  const A = await replica('a2', channel, () => false, 600);
  const mute = createRedisClient(url, { subscriber: true });
  clients.push(mute);
  await waitReady(mute);
  await mute.subscribe(channel);
  await subscribed(A.pub, channel, 2);
  const t0 = Date.now();
  assert.equal(await A.relay.send('agent-x', cmd('m1')), false);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 550 && elapsed < 2000, `resolved by the timeout (${elapsed} ms)`);
});

test('a closed relay no longer answers: with only A left, false at once', async () => {
  const channel = `dwtest:commands:${randomUUID()}`;
  const A = await replica('a3', channel, () => false, 800);
  const B = await replica('b3', channel, () => true, 800);
  await subscribed(A.pub, channel, 2);
  assert.equal(await A.relay.send('agent-b3', cmd('c1')), true, 'B delivers while it runs');
  await B.relay.close();
  await subscribed(A.pub, channel, 1);
  const t0 = Date.now();
  assert.equal(await A.relay.send('agent-b3', cmd('c2')), false);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 800, `only A is left and it answered no at once (${elapsed} ms)`);
});
