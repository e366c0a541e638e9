import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createInfluxStore, isLegacyVersion } from '../../src/infrastructure/influx/store.js';
import { aggregate, CONTAINER_METRICS, containerValues, HOST_METRICS, hostValues } from '../../src/domain/rollup.js';
import type { AlertEvent } from '../../src/application/store-ports.js';
import { requireEnv } from '../helpers/env.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';

const dbName = (): string => `dw_storage_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

function close(a: number | null | undefined, b: number | null | undefined, what: string): void {
  if (a === null || b === null || a === undefined || b === undefined) { assert.equal(a, b, what); return; }
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);
}

async function dropDb(url: string, db: string): Promise<void> {
  await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${db}"`)}`, { method: 'POST' });
}

test('influx 1.6.7: version detected, database created, batches read back aggregated per step', async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const bucket = dbName();
  const store = createInfluxStore({ url, bucket, gzip: true }); // gzip is off by default on loopback
  try {
    const r = await store.ready();
    assert.match(r.version, /^1\.6\.7/);
    assert.equal(r.writePath, 'v1');
    assert.equal(isLegacyVersion('1.8.10'), false);
    assert.equal(isLegacyVersion('v2.7.1'), false);

    const T0 = Date.parse('2026-11-20T10:00:00Z');
    const ids = containerIds('ifx', 4);
    const batches = Array.from({ length: 300 }, (_, i) => makeBatch('agent-i', 'host-i', ids, T0 + i * 1000 + 3, i));
    // Concurrent writers, as many agents streaming at once, then resends of the first 20.
    await Promise.all(batches.map((b) => store.writeBatch(b)));
    await Promise.all(batches.slice(0, 20).map((b) => store.writeBatch(b)));

    // A fresh adapter (nothing cached) reads what the server has.
    const reader = createInfluxStore({ url, bucket });
    assert.equal(await reader.hasContainer(ids[2]!), true);
    assert.equal(await reader.hasContainer('nope'), false);
    assert.equal(await reader.hasHost('host-i'), true);
    assert.equal(await reader.hasHost('agent-i'), true);
    assert.equal(await reader.hasHost('host-x'), false);

    const raw = await reader.queryContainer({ containerId: ids[2]!, fromMs: T0, toMs: T0 + 300_000, stepMs: 1000 });
    assert.equal(raw.length, 300, 'one point per sample, resends not duplicated');
    const want = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: containerValues(b.containers[2]!) })), 10_000, CONTAINER_METRICS);
    const got = await reader.queryContainer({ containerId: ids[2]!, fromMs: T0, toMs: T0 + 300_000, stepMs: 10_000 });
    assert.deepEqual(got.map((p) => p.timestampMs), want.map((p) => p.timestampMs));
    got.forEach((p, k) => { for (const m of CONTAINER_METRICS) close(p.values[m.key], want[k]!.values[m.key], `${m.key}@${k}`); });

    // Whole-minute steps read the 1-minute rollups; these points are old, so the adapter's
    // backfill (not the continuous query's 10-minute window) must have rolled them up.
    await store.backfillRollups();
    const rolled = await fetch(`${url}/query?db=${bucket}&epoch=ms&q=${encodeURIComponent('SELECT count(cpu_percent_n) FROM container_1m')}`);
    assert.match(await rolled.text(), /"values":\[\[0,20\]\]/, 'one rollup row per container and minute (4 x 5)');
    const want2m = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: containerValues(b.containers[2]!) })), 120_000, CONTAINER_METRICS);
    const got2m = await reader.queryContainer({ containerId: ids[2]!, fromMs: T0, toMs: T0 + 300_000, stepMs: 120_000 });
    assert.deepEqual(got2m.map((p) => p.timestampMs), want2m.map((p) => p.timestampMs));
    got2m.forEach((p, k) => { for (const m of CONTAINER_METRICS) close(p.values[m.key], want2m[k]!.values[m.key], `rollup ${m.key}@${k}`); });

    const wantH = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: hostValues(b.host!) })), 60_000, HOST_METRICS);
    const gotH = await reader.queryHost({ hostId: 'agent-i', fromMs: T0, toMs: T0 + 300_000, stepMs: 60_000 });
    assert.deepEqual(gotH.map((p) => p.timestampMs), wantH.map((p) => p.timestampMs));
    gotH.forEach((p, k) => { for (const m of HOST_METRICS) close(p.values[m.key], wantH[k]!.values[m.key], `host ${m.key}@${k}`); });

    const latest = await reader.latestContainer(ids[0]!);
    assert.equal(latest?.timestampMs, batches.at(-1)!.timestampMs);
    close(latest?.values.cpuPercent, batches.at(-1)!.containers[0]!.cpuPercent, 'latest cpu');

    const evt: AlertEvent = {
      id: 'a1', ruleId: 'cpu-high', severity: 'warning', state: 'firing', host: 'host-i', containerId: ids[0]!,
      containerName: 'web "x"', value: 93.5, threshold: 90, message: "CPU 93.5% > 90% for 'web'", timestampMs: T0 + 5000,
      context: { logs: ['line 1', 'line 2'] },
    };
    await store.writeAlertEvent(evt);
    await store.writeAlertEvent({ ...evt, state: 'resolved', value: 10, timestampMs: T0 + 65_000, message: 'back to normal' });
    const firing = await reader.queryAlerts({ state: 'firing', fromMs: T0, toMs: T0 + 100_000 });
    assert.deepEqual(firing, [evt]);
    const all = await reader.queryAlerts({ fromMs: T0, toMs: T0 + 100_000 });
    assert.deepEqual(all.map((a) => a.state), ['resolved', 'firing']);
    await reader.close();
  } finally {
    await store.close();
    await dropDb(url, bucket);
  }
});

test('influx: a write error maps to a typed AppError (bad database name -> not retryable)', async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const store = createInfluxStore({ url: 'http://127.0.0.1:1', bucket: 'x', timeoutMs: 2000 });
  await assert.rejects(store.writeBatch(makeBatch('a', 'h', containerIds('e', 1), Date.now(), 1)),
    (e: { code?: string; canRetry?: () => boolean }) => e.code === 'UNAVAILABLE' && e.canRetry!() === true);
  // A field type conflict is bad data: INVALID_ARGUMENT, never retried.
  const bucket = dbName();
  const ok = createInfluxStore({ url, bucket });
  try {
    await ok.ready();
    const r = await fetch(`${url}/write?db=${bucket}&precision=ms`, { method: 'POST', body: `container,container_id=c1 cpu_percent="text" ${Date.now()}` });
    assert.equal(r.status, 204);
    const b = makeBatch('a', 'h', ['c1'], Date.now(), 1, false);
    b.containers[0]!.id = 'c1';
    await assert.rejects(ok.writeBatch(b), (e: { code?: string; canRetry?: () => boolean }) => e.code === 'INVALID_ARGUMENT' && !e.canRetry!());
    // Coalesced with good batches, the bad one alone is refused; the others land. Bad here:
    // a clock 60 days off, older than the database's 30-day retention (a 400 partial write).
    const old = makeBatch('a0', 'h', ['stale'], Date.now() - 60 * 86_400_000, 1, false);
    const good = [1, 2, 3].map((i) => makeBatch(`a${i}`, 'h', [`good${i}`], Date.now() - i * 1000, i));
    const bucket2 = dbName();
    const ok2 = createInfluxStore({ url, bucket: bucket2 });
    const settled = await Promise.allSettled([ok2.writeBatch(old), ...good.map((g) => ok2.writeBatch(g))]);
    await ok2.close();
    assert.deepEqual(settled.map((x) => x.status), ['rejected', 'fulfilled', 'fulfilled', 'fulfilled'], JSON.stringify(settled.map((x) => (x.status === 'rejected' ? String(x.reason) : 'ok'))));
    const fresh = createInfluxStore({ url, bucket: bucket2 });
    for (const i of [1, 2, 3]) assert.equal(await fresh.hasContainer(`good${i}`), true);
    assert.equal(await fresh.hasContainer('stale'), false);
    await fresh.close();
    await dropDb(url, bucket2);
  } finally {
    await ok.close();
    await dropDb(url, bucket);
  }
});

test('influx client /api/v2/write path against VictoriaMetrics: what arrived matches', async () => {
  const url = requireEnv('TEST_VICTORIA_URL');
  // With an org set, as the server's default configuration has: VictoriaMetrics has no bucket API.
  const store = createInfluxStore({ url, bucket: 'dockwatch', org: 'dockwatch', writeApi: 'auto' });
  const r = await store.ready();
  assert.equal(r.writePath, 'v2', `VictoriaMetrics answers /ping with version "${r.version}"`);
  const T0 = Date.now() - 120_000;
  const run = randomUUID().slice(0, 8);
  const ids = containerIds(`vm${run}`, 3);
  const batches = Array.from({ length: 30 }, (_, i) => makeBatch(`agent-${run}`, `host-${run}`, ids, T0 + i * 1000, i));
  await Promise.all(batches.map((b) => store.writeBatch(b)));
  await store.close();
  // VictoriaMetrics makes series visible after a short delay; poll its export API.
  const match = encodeURIComponent(`{__name__="container_cpu_percent",container_id="${ids[1]}"}`);
  let rows: Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }> = [];
  for (let i = 0; i < 40; i++) {
    await fetch(`${url}/internal/force_flush`).catch(() => undefined);
    const res = await fetch(`${url}/api/v1/export?match[]=${match}&start=${Math.floor(T0 / 1000) - 10}`);
    const text = await res.text();
    rows = text.trim() ? text.trim().split('\n').map((l) => JSON.parse(l)) : [];
    if (rows.length > 0 && rows[0]!.values.length >= 30) break;
    await new Promise((res2) => setTimeout(res2, 500));
  }
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.metric.host, `host-${run}`);
  assert.equal(row.metric.container_name, batches[0]!.containers[1]!.name);
  assert.equal(row.metric.image, 'nginx:1.27');
  assert.deepEqual(row.timestamps, batches.map((b) => b.timestampMs));
  row.values.forEach((v, k) => close(v, batches[k]!.containers[1]!.cpuPercent, `vm cpu@${k}`));
});
