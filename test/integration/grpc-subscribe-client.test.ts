// The Node subscription client (used by `dockwatch top` and the benchmark) against a real server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsSubscriber } from '../../src/infrastructure/grpc/subscribe-client.js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { AppError } from '../../src/application/errors.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { batch, container, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const servers: Harness[] = [];
after(async () => { for (const s of servers) await s.server.close(500); });

test('connected before any data, then domain batches; cancel ends quietly', async () => {
  const h = await startServer();
  servers.push(h);
  const sub = createMetricsSubscriber({ address: h.address });
  const got: MetricBatch[] = [];
  const errors: AppError[] = [];
  let connected = false;
  const cancel = sub.subscribe({ labels: ['app=shop'] }, (b) => got.push(b), (e) => errors.push(e), () => { connected = true; });
  await waitFor(() => connected, 10_000, 'headers from the server');
  assert.equal(got.length, 0, 'nothing matches yet, and that is not an error');

  const a = rawClient(h.address);
  const call = a.StreamMetrics();
  const res = collect(call);
  const sample = container('c1', { name: 'shop-1', labels: { app: 'shop' } });
  call.write(metricDataToWire(batch('agent-s', 9, { containers: [sample, container('c2')] })));
  await waitFor(() => got.length === 1);
  assert.deepEqual(got[0]!.containers, [sample], 'the sample comes back as it went in');
  assert.equal(got[0]!.sequence, 9);
  assert.equal(got[0]!.host, null);
  cancel();
  call.end();
  await res.status;
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(errors, []);
  await waitFor(() => h.server.stats().subscribers === 0);
  sub.close();
  a.close();
});

test('errors arrive as AppError codes: unreachable, refused token, bad filter', async () => {
  const probe = await startServer();
  const deadPort = probe.port;
  await probe.server.close(100);
  const unreachable = createMetricsSubscriber({ address: `127.0.0.1:${deadPort}` });
  const e1 = await new Promise<AppError>((resolve) => unreachable.subscribe({}, () => {}, resolve));
  assert.equal(e1.code, 'UNAVAILABLE');
  unreachable.close();

  const h = await startServer({
    authorize: async (md) => { if (md.get('authorization')[0] !== 'Bearer ok') throw new AppError('UNAUTHENTICATED', 'token refused'); },
  });
  servers.push(h);
  const bad = createMetricsSubscriber({ address: h.address, token: 'nope' });
  const e2 = await new Promise<AppError>((resolve) => bad.subscribe({}, () => {}, resolve));
  assert.equal(e2.code, 'UNAUTHENTICATED');
  assert.equal(e2.message, 'token refused');
  bad.close();

  const good = createMetricsSubscriber({ address: h.address, token: 'ok' });
  const e3 = await new Promise<AppError>((resolve) => good.subscribe({ names: ['x', '{a,b'] }, () => {}, resolve));
  assert.equal(e3.code, 'INVALID_ARGUMENT');
  assert.equal(e3.field, 'names[1]');
  good.close();
});

test('a server shutting down ends the subscription with UNAVAILABLE', async () => {
  const h = await startServer();
  const sub = createMetricsSubscriber({ address: h.address });
  let connected = false;
  const err = new Promise<AppError>((resolve) => sub.subscribe({}, () => {}, resolve, () => { connected = true; }));
  await waitFor(() => connected);
  await h.server.close(500);
  assert.equal((await err).code, 'UNAVAILABLE');
  sub.close();
});
