import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMetricsService, findProtoPath } from '../../src/infrastructure/grpc/proto.js';
import {
  metricDataFromWire, metricDataToWire, ackToWire, ackFromWire, batchIdentity,
} from '../../src/infrastructure/grpc/mapping.js';
import { toGrpcStatus, fromGrpcError } from '../../src/infrastructure/grpc/status.js';
import { backoffDelay } from '../../src/infrastructure/grpc/agent-client.js';
import { AppError } from '../../src/application/errors.js';
import { status } from '@grpc/grpc-js';
import { batch, container } from '../helpers/grpc-fixtures.js';

const svc = loadMetricsService();
const encode = (o: unknown) => svc.service.StreamMetrics!.requestSerialize(o);
const decode = (b: Buffer) => svc.service.StreamMetrics!.requestDeserialize(b) as Record<string, unknown>;

test('proto is found from the source tree and from the build output', () => {
  const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
  assert.equal(findProtoPath(), `${root}/proto/metrics.proto`);
  assert.equal(findProtoPath(`${root}/dist/infrastructure/grpc`), `${root}/proto/metrics.proto`);
  assert.throws(() => findProtoPath('/'), /not found/);
});

test('a batch survives protobuf encode/decode unchanged', () => {
  const b = batch('agent-1', 1_700_000_000_123, {
    containers: [container('abc', { labels: { 'com.example': 'x', env: 'prod' }, cpuUsageNs: 2 ** 52 })],
    events: [{ containerId: 'abc', containerName: 'web', action: 'die', timestampMs: Date.now(), exitCode: -1, health: '', attributes: { signal: '9' } }],
  });
  const back = metricDataFromWire(decode(encode(metricDataToWire(b))));
  assert.deepEqual(back, b);
});

test('a batch without a host sample decodes with host null', () => {
  const back = metricDataFromWire(decode(encode(metricDataToWire(batch('a', 1, { host: null })))));
  assert.equal(back.host, null);
});

test('malformed batches name the field', () => {
  const now = Date.now();
  const base = () => metricDataToWire(batch('a', 1)) as Record<string, any>;
  const table: [string, (w: Record<string, any>) => void, string, RegExp][] = [
    ['missing agent_id', (w) => { w.agentId = ''; }, 'agent_id', /required/],
    ['sequence 0', (w) => { w.sequence = 0; }, 'sequence', /at least 1/],
    ['missing hostname', (w) => { w.hostname = ''; }, 'hostname', /required/],
    ['seconds instead of ms', (w) => { w.timestampMs = Math.floor(now / 1000); }, 'timestamp_ms', /implausible/],
    ['far future', (w) => { w.timestampMs = now + 10 * 86_400_000; }, 'timestamp_ms', /future/],
    ['NaN cpu', (w) => { w.containers[1].cpuPercent = NaN; }, 'containers[1].cpu_percent', /NaN/],
    ['Infinity mem %', (w) => { w.containers[0].memPercent = Infinity; }, 'containers[0].mem_percent', /infinite/],
    ['negative counter', (w) => { w.containers[0].netRxBytes = -5; }, 'containers[0].net_rx_bytes', /negative/],
    ['uint64 wrapped', (w) => { w.containers[0].blkReadBytes = 2 ** 64 - 1; }, 'containers[0].blk_read_bytes', /out of range/],
    ['container without id', (w) => { w.containers[1].id = ''; }, 'containers[1].id', /required/],
    ['duplicate container id', (w) => { w.containers[1].id = w.containers[0].id; }, 'containers[1].id', /duplicate/],
    ['host NaN load', (w) => { w.host.load1 = NaN; }, 'host.load1', /NaN/],
    ['disk negative', (w) => { w.host.disks[0].usedPercent = -1; }, 'host.disks[0].used_percent', /negative/],
    ['event without id', (w) => { w.events = [{ containerId: '', action: 'die', timestampMs: now }]; }, 'events[0].container_id', /required/],
  ];
  for (const [name, mutate, field, msg] of table) {
    const w = base();
    mutate(w);
    assert.throws(() => metricDataFromWire(w), (e: unknown) => {
      assert.ok(e instanceof AppError, name);
      assert.equal(e.code, 'INVALID_ARGUMENT', name);
      assert.equal(e.field, field, name);
      assert.match(e.message, msg, name);
      return true;
    }, name);
  }
});

test('NaN survives the wire and is still caught', () => {
  const w = metricDataToWire(batch('a', 1)) as Record<string, any>;
  w.containers[0].cpuPercent = NaN;
  assert.throws(() => metricDataFromWire(decode(encode(w))), /containers\[0\]\.cpu_percent: is NaN/);
});

test('too many containers', () => {
  const b = batch('a', 1, { containers: Array.from({ length: 11 }, (_, i) => container(`c${i}`)) });
  assert.throws(() => metricDataFromWire(metricDataToWire(b), { maxContainers: 10 }),
    (e: unknown) => e instanceof AppError && e.field === 'containers' && /too many/.test(e.message));
  assert.doesNotThrow(() => metricDataFromWire(metricDataToWire(b), { maxContainers: 11 }));
});

test('identity is read before the rest', () => {
  assert.deepEqual(batchIdentity({ agentId: 'x', sequence: 9, hostname: '' }), { agentId: 'x', sequence: 9 });
  assert.throws(() => batchIdentity({ agentId: 'x\u0000', sequence: 9 }), /control/);
});

test('acks map both ways', () => {
  for (const s of ['ack', 'duplicate', 'rejected'] as const) {
    const a = { agentId: 'x', sequence: 5, status: s, message: 'm' };
    assert.deepEqual(ackFromWire(ackToWire(a)), a);
  }
  assert.equal(ackToWire({ agentId: 'x', sequence: 5, status: 'duplicate', message: '' }).status, 'DUPLICATE');
});

test('AppError codes map to gRPC codes in one place; internals stay hidden', () => {
  const table: [AppError | Error, number, string][] = [
    [new AppError('INVALID_ARGUMENT', 'labels[1]: unknown operator', { field: 'labels[1]' }), status.INVALID_ARGUMENT, 'labels[1]: unknown operator'],
    [new AppError('UNAUTHENTICATED', 'missing token'), status.UNAUTHENTICATED, 'missing token'],
    [new AppError('PERMISSION_DENIED', 'role viewer'), status.PERMISSION_DENIED, 'role viewer'],
    [new AppError('RESOURCE_EXHAUSTED', 'slow down'), status.RESOURCE_EXHAUSTED, 'slow down'],
    [new AppError('UNAVAILABLE', 'influx down'), status.UNAVAILABLE, 'influx down'],
    [new AppError('NOT_FOUND', 'x not found'), status.NOT_FOUND, 'x not found'],
    [new AppError('CONFLICT', 'exists'), status.ALREADY_EXISTS, 'exists'],
    [new AppError('INTERNAL', 'secret path /etc/x'), status.INTERNAL, 'internal error'],
    [new Error('password=hunter2'), status.INTERNAL, 'internal error'],
  ];
  for (const [err, code, details] of table) {
    const st = toGrpcStatus(err);
    assert.equal(st.code, code, err.message);
    assert.equal(st.details, details);
  }
  const st = toGrpcStatus(new AppError('INVALID_ARGUMENT', 'names[0]: bad', { field: 'names[0]' }));
  const back = fromGrpcError({ code: st.code, details: st.details, metadata: st.metadata! });
  assert.equal(back.code, 'INVALID_ARGUMENT');
  assert.equal(back.field, 'names[0]');
});

test('backoff: full jitter under an exponential cap', () => {
  assert.equal(backoffDelay(0, 100, 10_000, () => 0.999999), 99);
  assert.equal(backoffDelay(3, 100, 10_000, () => 0.5), 400);
  assert.equal(backoffDelay(20, 100, 10_000, () => 0.5), 5000);
  assert.equal(backoffDelay(5, 100, 10_000, () => 0), 0);
});
