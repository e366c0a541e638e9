import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingestBatch, type IngestDeps } from '../../src/application/ingest.js';
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
