// The agent stream client with several servers behind one name (a Kubernetes headless Service):
// real gRPC servers on three loopback addresses with one port, a resolver that answers what the
// "DNS" holds at the moment. Agents spread over the addresses the name has; a server added to the
// name takes the agents that rank it first, and only those; a server removed from the name and
// stopped loses its agents to the others, which resend what it had not acked.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createGrpcServer, type GrpcServer } from '../../src/infrastructure/grpc/server.js';
import { createIngest } from '../../src/application/ingest.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMemoryLedger } from '../../src/infrastructure/memory/ledger.js';
import { createAgentStream, type AgentStream } from '../../src/infrastructure/grpc/agent-client.js';
import { rank } from '../../src/infrastructure/grpc/server-targets.js';
import { freePort } from '../helpers/wait.js';
import { batch, testLogger, waitFor } from '../helpers/grpc-fixtures.js';

const servers: GrpcServer[] = [];
const agents: AgentStream[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.close(0)));
  await Promise.all(servers.map((s) => s.close(100)));
});

async function serve(ip: string, port: number, stored: Map<string, Set<number>>): Promise<GrpcServer> {
  const log = testLogger();
  const bus = createMemoryBus();
  const latest = createMemoryLatestStore();
  const sink = { writeBatch: async (b: { agentId: string; sequence: number }) => { stored.get(b.agentId)?.add(b.sequence) ?? stored.set(b.agentId, new Set([b.sequence])); } };
  const server = createGrpcServer({ ingest: createIngest({ ledger: createMemoryLedger(), sink, latest, bus, log }), bus, latest, log });
  await server.listen(ip, port);
  servers.push(server);
  return server;
}

test('a name with several addresses: agents spread, a new address takes its agents, a removed one loses them without loss', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const stored = new Map<string, Set<number>>();
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  const [s1, s2] = [await serve(ips[0]!, port, stored), await serve(ips[1]!, port, stored)];
  let dns = [ips[0]!, ips[1]!];
  const resolve = async (host: string) => { assert.equal(host, 'dw-headless'); return [...dns]; };

  const n = 24;
  const sent = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const id = `agent-${i}`;
    agents.push(createAgentStream({
      address: `dw-headless:${port}`, resolve, spreadKey: id, log: testLogger(), rebalance: { minMs: 200, maxMs: 600 },
      backoff: { initialMs: 100, maxMs: 1000 },
    }));
    sent.set(id, []);
  }
  let seq = Date.now();
  const tick = setInterval(() => {
    seq++;
    agents.forEach((a, i) => { a.send(batch(`agent-${i}`, seq)); sent.get(`agent-${i}`)!.push(seq); });
  }, 100);
  try {
    await waitFor(() => agents.every((a) => a.stats().connected), 10_000, 'all connected');
    const on = (ip: string) => agents.filter((a) => a.stats().server === `${ip}:${port}`).length;
    assert.equal(on(ips[0]!) + on(ips[1]!), n);
    assert.ok(on(ips[0]!) >= 6 && on(ips[1]!) >= 6, `spread: ${on(ips[0]!)} / ${on(ips[1]!)}`);

    // A third server joins the name: the agents that rank it first move to it, the others stay.
    await serve(ips[2]!, port, stored);
    const before = agents.map((a) => a.stats().server);
    dns = [...ips];
    const targets = ips.map((ip) => ({ address: `${ip}:${port}`, hostname: 'dw-headless' }));
    const want = agents.map((_, i) => rank(`agent-${i}`, targets)[0]!.address);
    await waitFor(() => agents.every((a, i) => a.stats().connected && a.stats().server === want[i]), 15_000, 'agents on their first choice');
    const moved = agents.filter((a, i) => a.stats().server !== before[i]).length;
    assert.equal(moved, want.filter((w) => w === `${ips[2]}:${port}`).length, 'only the agents that rank the new server first moved');
    assert.ok(moved >= 4, `the new server took its share: ${moved}`);

    // The first server leaves the name and stops: its agents go to the others.
    dns = [ips[1]!, ips[2]!];
    await s1.close(0);
    await waitFor(() => agents.every((a) => a.stats().connected && a.stats().server !== `${ips[0]}:${port}`), 10_000, 'agents off the stopped server');
    void s2;
  } finally {
    clearInterval(tick);
  }
  await Promise.all(agents.map((a) => a.close(10_000)));
  for (const [id, seqs] of sent) {
    const got = stored.get(id) ?? new Set<number>();
    const missing = seqs.filter((s) => !got.has(s));
    assert.deepEqual(missing, [], `${id}: every batch stored`);
    assert.equal(agents[Number(id.split('-')[1])]!.stats().dropped, 0);
  }
});
