// StreamMetrics against a real server on loopback, with real grpc-js clients.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { AppError } from '../../src/application/errors.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { batch, container, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const servers: Harness[] = [];
after(async () => { for (const s of servers) await s.server.close(1000); });

test('acks by sequence, in order; resent sequences come back DUPLICATE and are not written twice', async () => {
  const h = await startServer();
  servers.push(h);
  const client = rawClient(h.address);
  const call = client.StreamMetrics();
  const res = collect(call);
  for (const seq of [101, 102, 103]) call.write(metricDataToWire(batch('agent-a', seq)));
  call.write(metricDataToWire(batch('agent-a', 102)));
  call.write(metricDataToWire(batch('agent-a', 104)));
  call.end();
  const st = await res.status;
  assert.equal(st.code, grpc.status.OK);
  assert.deepEqual(res.items.map((r) => [Number(r.sequence), r.status, r.agentId]), [
    [101, 'ACK', 'agent-a'], [102, 'ACK', 'agent-a'], [103, 'ACK', 'agent-a'], [102, 'DUPLICATE', 'agent-a'], [104, 'ACK', 'agent-a'],
  ]);
  assert.deepEqual(h.written.map((b) => b.sequence), [101, 102, 103, 104]);
  assert.deepEqual(h.latest.containers().map((c) => c.id).sort(), ['agent-a-a', 'agent-a-b']);
  client.close();
});

test('malformed content gets REJECTED naming the field, the stream and other agents go on', async () => {
  const h = await startServer();
  servers.push(h);
  const client = rawClient(h.address);
  const bad = client.StreamMetrics();
  const good = client.StreamMetrics();
  const badRes = collect(bad);
  const goodRes = collect(good);

  const nan = metricDataToWire(batch('agent-bad', 1)) as any;
  nan.containers[0].cpuPercent = NaN;
  bad.write(nan);
  const noId = metricDataToWire(batch('agent-bad', 2, { containers: [container('')] }));
  bad.write(noId);
  bad.write(metricDataToWire(batch('agent-bad', 3, { timestampMs: 1234 })));
  good.write(metricDataToWire(batch('agent-good', 1)));
  bad.write(metricDataToWire(batch('agent-bad', 4)));
  good.write(metricDataToWire(batch('agent-good', 2)));

  await waitFor(() => badRes.items.length === 4 && goodRes.items.length === 2);
  assert.deepEqual(badRes.items.map((r) => [Number(r.sequence), r.status]), [[1, 'REJECTED'], [2, 'REJECTED'], [3, 'REJECTED'], [4, 'ACK']]);
  assert.match(badRes.items[0].message, /containers\[0\]\.cpu_percent: is NaN/);
  assert.match(badRes.items[1].message, /containers\[0\]\.id: required/);
  assert.match(badRes.items[2].message, /^timestamp_ms: implausible/);
  assert.deepEqual(goodRes.items.map((r) => r.status), ['ACK', 'ACK']);
  assert.equal(h.server.stats().rejected, 3);

  // Without an identity no ack can name the batch: the stream ends INVALID_ARGUMENT...
  bad.write(metricDataToWire(batch('', 5)));
  const st = await badRes.status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /^agent_id: required/);
  // ...and the other agent's stream is untouched.
  good.write(metricDataToWire(batch('agent-good', 3)));
  await waitFor(() => goodRes.items.length === 3);
  assert.equal(goodRes.items[2].status, 'ACK');
  good.end();
  assert.equal((await goodRes.status).code, grpc.status.OK);
  client.close();
});

test('sequence 0 ends the stream with INVALID_ARGUMENT naming sequence', async () => {
  const h = await startServer();
  servers.push(h);
  const client = rawClient(h.address);
  const call = client.StreamMetrics();
  const res = collect(call);
  call.write(metricDataToWire(batch('a', 0)));
  const st = await res.status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /^sequence: /);
  assert.equal(st.metadata.get('dockwatch-field')[0], 'sequence');
  client.close();
});

test('undecodable bytes get INVALID_ARGUMENT, not INTERNAL', async () => {
  const h = await startServer();
  servers.push(h);
  const client = new grpc.Client(h.address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest<Buffer, unknown>('/dockwatch.v1.MetricsService/StreamMetrics', (b) => b, (b) => b, new grpc.Metadata());
  const res = collect(call);
  call.write(Buffer.from([0x1a, 0x02, 0x08])); // a length-delimited field 3 whose body is cut short
  const st = await res.status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /cannot decode/);
  client.close();
});

test('an oversize message gets RESOURCE_EXHAUSTED with a reason; other streams go on', async () => {
  const h = await startServer({ maxMessageBytes: 64 * 1024 });
  servers.push(h);
  const client = rawClient(h.address);
  const big = client.StreamMetrics();
  const good = client.StreamMetrics();
  const bigRes = collect(big);
  const goodRes = collect(good);
  const containers = Array.from({ length: 400 }, (_, i) => container(`c${i}`, { labels: { blob: 'x'.repeat(200) } }));
  big.write(metricDataToWire(batch('agent-big', 1, { containers })));
  const st = await bigRes.status;
  assert.equal(st.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(st.details, /larger than max/);
  good.write(metricDataToWire(batch('agent-small', 1)));
  await waitFor(() => goodRes.items.length === 1);
  assert.equal(goodRes.items[0].status, 'ACK');
  good.end();
  await goodRes.status;
  client.close();
});

test('a retryable storage failure is not acked: the stream ends UNAVAILABLE and the resend is acked later', async () => {
  let down = true;
  const written: number[] = [];
  const h = await startServer({
    sink: { writeBatch: async (b) => { if (down) throw new AppError('UNAVAILABLE', 'storage down'); written.push(b.sequence); } },
  });
  servers.push(h);
  const client = rawClient(h.address);
  const c1 = client.StreamMetrics();
  const r1 = collect(c1);
  c1.write(metricDataToWire(batch('a', 10)));
  const st = await r1.status;
  assert.equal(st.code, grpc.status.UNAVAILABLE);
  assert.equal(r1.items.length, 0, 'no ack for a batch that is not durable');
  down = false;
  const c2 = client.StreamMetrics();
  const r2 = collect(c2);
  c2.write(metricDataToWire(batch('a', 10)));
  c2.end();
  await r2.status;
  assert.deepEqual(r2.items.map((r) => r.status), ['ACK']);
  assert.deepEqual(written, [10]);
  client.close();
});

test('authorize refuses with UNAUTHENTICATED; the token travels in metadata', async () => {
  const seen: (string | undefined)[] = [];
  const h = await startServer({
    authorize: async (md, rpc) => {
      const v = md.get('authorization')[0];
      seen.push(`${rpc}:${v}`);
      if (v !== 'Bearer good') throw new AppError('UNAUTHENTICATED', 'invalid token');
    },
  });
  servers.push(h);
  const client = rawClient(h.address);
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer bad');
  const call = client.StreamMetrics(md);
  const res = collect(call);
  call.write(metricDataToWire(batch('a', 1)));
  const st = await res.status;
  assert.equal(st.code, grpc.status.UNAUTHENTICATED);
  assert.equal(st.details, 'invalid token');
  assert.equal(h.written.length, 0, 'nothing ingested without auth');
  const sub = client.SubscribeToMetrics({});
  const subRes = collect(sub);
  assert.equal((await subRes.status).code, grpc.status.UNAUTHENTICATED);
  assert.deepEqual(seen, ['StreamMetrics:Bearer bad', 'SubscribeToMetrics:undefined']);
  client.close();
});

test('ended, failed and cancelled calls are forgotten (no leak in the server state)', async () => {
  const h = await startServer();
  servers.push(h);
  const c = rawClient(h.address);
  const failed = c.StreamMetrics();
  const rf = collect(failed);
  failed.write(metricDataToWire(batch('', 1)));
  await rf.status;
  const ended = c.StreamMetrics();
  const re = collect(ended);
  ended.write(metricDataToWire(batch('x', 1)));
  ended.end();
  await re.status;
  const cancelled = c.StreamMetrics();
  collect(cancelled);
  cancelled.write(metricDataToWire(batch('y', 1)));
  await waitFor(() => h.server.stats().acked === 2);
  const sub = c.SubscribeToMetrics({});
  collect(sub);
  await waitFor(() => h.server.stats().subscribers === 1 && h.server.stats().agentStreams === 1);
  cancelled.cancel();
  sub.cancel();
  await waitFor(() => h.server.stats().agentStreams === 0 && h.server.stats().subscribers === 0, 5000, 'calls forgotten');
  c.close();
});

test('graceful close acks the batch in flight, then ends the stream UNAVAILABLE', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => { release = r; });
  let writes = 0;
  const h = await startServer({ sink: { writeBatch: async () => { writes++; await gate; } } });
  const c = rawClient(h.address);
  const call = c.StreamMetrics();
  const res = collect(call);
  call.write(metricDataToWire(batch('a', 1)));
  await waitFor(() => writes === 1);
  const closing = h.server.close(5000);
  setTimeout(release, 100);
  const st = await res.status;
  await closing;
  assert.deepEqual(res.items.map((r) => [Number(r.sequence), r.status]), [[1, 'ACK']]);
  assert.equal(st.code, grpc.status.UNAVAILABLE);
  assert.match(st.details, /shutting down/);
  c.close();
});

test('a burst larger than the read-ahead window is read in steps and acked in order', async () => {
  const h = await startServer({ sink: { writeBatch: () => new Promise((r) => setTimeout(r, 50)) } });
  servers.push(h);
  const c = rawClient(h.address);
  const call = c.StreamMetrics();
  const res = collect(call);
  const N = 300;
  for (let s = 1; s <= N; s++) call.write(metricDataToWire(batch('burst', s)));
  call.end();
  const st = await res.status;
  assert.equal(st.code, grpc.status.OK);
  assert.deepEqual(res.items.map((r) => Number(r.sequence)), Array.from({ length: N }, (_, i) => i + 1));
  assert.ok(res.items.every((r) => r.status === 'ACK'));
  assert.ok(h.server.stats().readPauses > 0, 'reading paused while batches waited');
  c.close();
});

test('the in-flight budget is shared per stream: a stuck agent is held back, the others go on', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const written: MetricBatch[] = [];
  // 3 samples per batch (2 containers + host); 30 for the server = 15 per stream with two streams.
  const h = await startServer({
    maxInFlightSamples: 30,
    sink: { writeBatch: async (b) => { if (b.agentId === 'stuck') await gate; written.push(b); } },
  });
  servers.push(h);
  const c = rawClient(h.address);
  const stuck = c.StreamMetrics();
  const fast = c.StreamMetrics();
  const stuckRes = collect(stuck);
  const fastRes = collect(fast);
  fast.write(metricDataToWire(batch('fast', 1)));
  await waitFor(() => fastRes.items.length === 1, 10_000, 'first ack of the fast agent');
  for (let s = 1; s <= 40; s++) stuck.write(metricDataToWire(batch('stuck', s)));
  await waitFor(() => h.server.stats().overloadPauses > 0, 10_000, 'the stuck stream to be paused');
  let maxHeld = 0;
  for (let s = 2; s <= 20; s++) {
    fast.write(metricDataToWire(batch('fast', s)));
    await waitFor(() => fastRes.items.length === s, 10_000, `ack ${s} of the fast agent`);
    maxHeld = Math.max(maxHeld, h.server.stats().inFlightSamples);
  }
  assert.equal(stuckRes.items.length, 0, 'nothing of the stuck agent is acked before its writes finish');
  // Its share of 15, plus the batch that crossed it, plus the fast agent's batch in flight.
  assert.ok(maxHeld <= 15 + 3 + 3, `the server held ${maxHeld} samples: the stuck stream went over its share of 15`);
  assert.ok(h.server.stats().batchesReceived < 60, 'the stuck stream was not read to the end while over its share');
  release();
  stuck.end();
  fast.end();
  await stuckRes.status;
  assert.deepEqual(stuckRes.items.map((r) => Number(r.sequence)), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(stuckRes.items.every((r) => r.status === 'ACK'));
  c.close();
});
