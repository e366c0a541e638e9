import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIngest, ingestBatch, type IngestDeps } from '../../src/application/ingest.js';
import { AppError } from '../../src/application/errors.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMemoryLedger } from '../../src/infrastructure/memory/ledger.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { batch, testLogger, waitFor } from '../helpers/grpc-fixtures.js';

function deps(writeBatch: (b: MetricBatch) => Promise<void> = async () => {}) {
  const written: MetricBatch[] = [];
  const order: string[] = [];
  const bus = createMemoryBus();
  const latest = createMemoryLatestStore();
  const d: IngestDeps = {
    ledger: createMemoryLedger(),
    sink: { writeBatch: async (b) => { order.push('sink'); await writeBatch(b); written.push(b); } },
    latest,
    bus: { publish: (b) => { order.push('publish'); bus.publish(b); }, subscribe: bus.subscribe },
    log: testLogger(),
  };
  return { d, written, order, bus, latest };
}

test('acks new sequences, drops resends without writing them', async () => {
  const { d, written } = deps();
  assert.equal((await ingestBatch(d, batch('a', 10))).status, 'ack');
  assert.equal((await ingestBatch(d, batch('a', 11))).status, 'ack');
  const dup = await ingestBatch(d, batch('a', 10));
  assert.equal(dup.status, 'duplicate');
  assert.equal(dup.sequence, 10);
  assert.equal((await ingestBatch(d, batch('b', 10))).status, 'ack', 'other agents have their own numbers');
  assert.deepEqual(written.map((b) => `${b.agentId}:${b.sequence}`), ['a:10', 'a:11', 'b:10']);
});

test('publishes live before the durable write, and the bus delivers it', async () => {
  const { d, order, bus } = deps();
  const seen: number[] = [];
  bus.subscribe((b) => seen.push(b.sequence));
  await ingestBatch(d, batch('a', 1));
  assert.deepEqual(order, ['publish', 'sink']);
  await waitFor(() => seen.length === 1);
  assert.deepEqual(seen, [1]);
});

test('a retryable sink failure is not acked and not recorded, so the resend is written', async () => {
  let fail = true;
  const { d, written } = deps(async () => { if (fail) throw new AppError('UNAVAILABLE', 'influx down'); });
  await assert.rejects(ingestBatch(d, batch('a', 7)), (e: unknown) => e instanceof AppError && e.code === 'UNAVAILABLE');
  assert.equal(d.ledger.lastAcked('a'), undefined);
  fail = false;
  assert.equal((await ingestBatch(d, batch('a', 7))).status, 'ack');
  assert.equal(written.length, 1);
});

test('an unknown sink error is not acked either', async () => {
  const { d } = deps(async () => { throw new Error('boom'); });
  await assert.rejects(ingestBatch(d, batch('a', 1)), /boom/);
  assert.equal(d.ledger.lastAcked('a'), undefined);
});

test('a permanent sink refusal is rejected and remembered', async () => {
  const { d } = deps(async () => { throw new AppError('INVALID_ARGUMENT', 'field too long', { field: 'x' }); });
  const ack = await ingestBatch(d, batch('a', 3));
  assert.equal(ack.status, 'rejected');
  assert.match(ack.message, /field too long/);
  assert.equal(d.ledger.lastAcked('a'), 3);
});

test('the latest store is updated, onBatch counts accepted batches only', async () => {
  const { d, latest } = deps();
  let count = 0;
  d.onBatch = () => { count++; };
  await ingestBatch(d, batch('a', 1));
  await ingestBatch(d, batch('a', 1));
  assert.equal(count, 1);
  assert.deepEqual(latest.containers().map((c) => c.id).sort(), ['a-a', 'a-b']);
});

test('a bus that hangs or fails does not hold up the durable write or the ack', async () => {
  const { d, written } = deps();
  d.bus = { publish: () => new Promise<void>(() => {}), subscribe: d.bus.subscribe };
  assert.equal((await ingestBatch(d, batch('a', 1))).status, 'ack');
  d.bus = { publish: () => { throw new Error('bus down'); }, subscribe: d.bus.subscribe };
  assert.equal((await ingestBatch(d, batch('a', 2))).status, 'ack');
  d.bus = { publish: () => Promise.reject(new Error('redis down')), subscribe: d.bus.subscribe };
  assert.equal((await ingestBatch(d, batch('a', 3))).status, 'ack');
  assert.deepEqual(written.map((b) => b.sequence), [1, 2, 3]);
});

/** A sink whose writes finish only when the test says so, in any order. */
function gatedSink() {
  const gates = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  const started: number[] = [];
  const writeBatch = (b: MetricBatch) => new Promise<void>((resolve, reject) => {
    started.push(b.sequence);
    gates.set(b.sequence, { resolve, reject });
  });
  return { writeBatch, started, gates };
}

test('pipelined: batches of one agent write at once, but commit and ack in order', async () => {
  const g = gatedSink();
  const { d } = deps(g.writeBatch);
  const ingest = createIngest(d);
  const acked: number[] = [];
  const results = [1, 2, 3].map((s) => ingest(batch('a', s)).then((a) => { acked.push(a.sequence); return a; }));
  await waitFor(() => g.started.length === 3);
  assert.deepEqual(g.started, [1, 2, 3], 'all three writes started before any finished');
  g.gates.get(3)!.resolve();
  g.gates.get(2)!.resolve();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(acked, [], 'nothing acked while batch 1 is not durable');
  assert.equal(d.ledger.lastAcked('a'), undefined);
  g.gates.get(1)!.resolve();
  const acks = await Promise.all(results);
  assert.deepEqual(acked, [1, 2, 3]);
  assert.ok(acks.every((a) => a.status === 'ack'));
  assert.equal(d.ledger.lastAcked('a'), 3);
});

test('pipelined: when an earlier batch fails, later ones are not acked or marked, and the resends are written', async () => {
  const g = gatedSink();
  const { d } = deps(g.writeBatch);
  const ingest = createIngest(d);
  const r1 = ingest(batch('a', 1));
  const r2 = ingest(batch('a', 2));
  const r3 = ingest(batch('a', 3));
  await waitFor(() => g.started.length === 3);
  g.gates.get(2)!.resolve();
  g.gates.get(3)!.resolve();
  g.gates.get(1)!.reject(new AppError('UNAVAILABLE', 'influx down'));
  await assert.rejects(r1, /influx down/);
  await assert.rejects(r2, (e: unknown) => e instanceof AppError && e.code === 'UNAVAILABLE' && /earlier batch/.test(e.message));
  await assert.rejects(r3, /earlier batch/);
  assert.equal(d.ledger.lastAcked('a'), undefined, 'batch 2 stored but not marked: marking it would turn the resend of 1 into a duplicate');
  // The agent reconnects and resends 1, 2, 3: all written again (idempotent in the store) and acked.
  const resent = [1, 2, 3].map((s) => ingest(batch('a', s)));
  await waitFor(() => g.started.length === 6);
  for (const s of [1, 2, 3]) g.gates.get(s)!.resolve();
  assert.deepEqual((await Promise.all(resent)).map((a) => a.status), ['ack', 'ack', 'ack']);
  assert.equal(d.ledger.lastAcked('a'), 3);
});

test('pipelined: a resend of a batch still in flight waits for it and is then a duplicate', async () => {
  const g = gatedSink();
  const { d, written } = deps(g.writeBatch);
  const ingest = createIngest(d);
  const first = ingest(batch('a', 5));
  const again = ingest(batch('a', 5)); // the agent reconnected and resent while the first was still writing
  await waitFor(() => g.started.length === 1);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(g.started.length, 1, 'the resend did not start a second write');
  g.gates.get(5)!.resolve();
  assert.equal((await first).status, 'ack');
  assert.equal((await again).status, 'duplicate');
  assert.equal(written.length, 1);
});

test('pipelined: agents do not wait for each other', async () => {
  const gates = new Map<string, () => void>();
  const { d } = deps((b) => new Promise<void>((r) => { gates.set(b.agentId, r); }));
  const ingest = createIngest(d);
  const slow = ingest(batch('a', 1));
  const fast = ingest(batch('b', 1));
  await waitFor(() => gates.size === 2);
  gates.get('b')!();
  assert.equal((await fast).status, 'ack', "b is acked while a's write still hangs");
  gates.get('a')!();
  assert.equal((await slow).status, 'ack');
});
