// Flow control at fleet scale (issue 16): with more agents than the in-flight budget can give a
// batch each, every stream still gets its turn in order (none starves), and a stream held back
// does not pile received batches up in the server's memory. Real server and grpc-js clients on
// loopback; the store is a gate the test opens one write at a time, so the order is the
// server's, not the timing's.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { batch, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const servers: Harness[] = [];
after(async () => { for (const s of servers) await s.server.close(1000); });

test('more agents than the budget holds batches for: each stream gets one write at a time, in turn; none starves', { timeout: 60_000 }, async () => {
  const waiting: Array<{ agentId: string; go: () => void }> = [];
  const written: string[] = [];
  // 3 samples a batch (2 containers + host); a budget of 6 samples for 5 streams is less than a batch each.
  const h = await startServer({
    maxInFlightSamples: 6,
    sink: { writeBatch: (b) => new Promise<void>((go) => { waiting.push({ agentId: b.agentId, go }); }).then(() => { written.push(b.agentId); }) },
  });
  servers.push(h);
  const c = rawClient(h.address);
  const agents = ['a0', 'a1', 'a2', 'a3', 'a4'];
  const calls = agents.map((id) => {
    const call = c.StreamMetrics();
    const res = collect(call);
    for (let s = 1; s <= 12; s++) call.write(metricDataToWire(batch(id, s)));
    return { id, call, res };
  });
  // Every stream has its first batch in the store before any write completes: the floor of one batch each.
  await waitFor(() => waiting.length === agents.length, 10_000, 'one write per stream');
  assert.deepEqual(waiting.map((w) => w.agentId).sort(), agents, 'one batch of each stream, not two of one');
  // Complete the oldest write each time, as a store that takes them in order does.
  for (let k = 0; k < 40; k++) {
    await waitFor(() => waiting.length >= agents.length, 10_000, `write ${k}: every stream has its next batch in the store`);
    const inStore = new Map<string, number>();
    for (const w of waiting) inStore.set(w.agentId, (inStore.get(w.agentId) ?? 0) + 1);
    assert.ok([...inStore.values()].every((n) => n === 1), `write ${k}: a stream holds more than its one batch: ${JSON.stringify([...inStore])}`);
    waiting.shift()!.go();
  }
  const per = agents.map((id) => written.filter((a) => a === id).length);
  assert.ok(Math.max(...per) - Math.min(...per) <= 1, `writes per stream ${JSON.stringify(per)}: served in turn`);
  while (waiting.length > 0 || written.length < agents.length * 12) {
    await waitFor(() => waiting.length > 0 || written.length === agents.length * 12, 10_000, 'the rest');
    waiting.shift()?.go();
  }
  for (const x of calls) x.call.end();
  for (const x of calls) {
    await x.res.status;
    assert.deepEqual(x.res.items.map((r) => Number(r.sequence)), Array.from({ length: 12 }, (_, i) => i + 1), `${x.id}: every batch acked, in order`);
  }
  c.close();
});

test('a stream held back by flow control keeps at most one received batch waiting in the server', { timeout: 30_000 }, async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  const h = await startServer({ maxInFlightSamples: 3, sink: { writeBatch: async () => { await gate; } } });
  servers.push(h);
  const c = rawClient(h.address);
  const call = c.StreamMetrics();
  const res = collect(call);
  // Big batches (200 containers, ~40 KB each): 30 of them is more than the stream's HTTP/2 window.
  const big = (s: number) => metricDataToWire(batch('flood', s, { containers: Array.from({ length: 200 }, (_, i) => ({ ...batch('x', 1).containers[0]!, id: `flood-${i}`, name: `c${i}` })) }));
  for (let s = 1; s <= 30; s++) call.write(big(s));
  await waitFor(() => h.server.stats().bufferedBatches >= 1, 10_000, 'a batch waiting behind the paused stream');
  // The client has had time to push everything HTTP/2 lets through; the server must not have read it into memory.
  let most = 0;
  for (let i = 0; i < 20; i++) {
    most = Math.max(most, h.server.stats().bufferedBatches);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(most <= 1, `batches buffered for the paused stream: ${most} (grpc-js's default would take 16)`);
  assert.ok(h.server.stats().batchesReceived <= 2, `batches handed to ingest while paused: ${h.server.stats().batchesReceived}`);
  open();
  call.end();
  await res.status;
  assert.deepEqual(res.items.map((r) => Number(r.sequence)), Array.from({ length: 30 }, (_, i) => i + 1), 'all acked once the store goes on');
  c.close();
});
