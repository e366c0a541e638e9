import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createInfluxStore, isLegacyVersion } from '../../src/infrastructure/influx/store.js';
import { aggregate, CONTAINER_METRICS, containerValues, HOST_METRICS, hostValues } from '../../src/domain/rollup.js';
import type { AlertEvent } from '../../src/application/store-ports.js';
import { requireEnv } from '../helpers/env.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';
import { checkStoredEvents, eventFixture } from '../helpers/store-events-contract.js';

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

    // Whole-minute steps read the 1-minute rollups. The stream summed the minutes it saw whole
    // (1 to 3) as they passed; the first (maybe begun elsewhere, and resent) and the last (still
    // open) wait to be recomputed from raw points, which backfillRollups() does now.
    const rollupRows = async (): Promise<string> => (await fetch(`${url}/query?db=${bucket}&epoch=ms&q=${encodeURIComponent('SELECT count(cpu_percent_n) FROM container_1m')}`)).text();
    assert.match(await rollupRows(), /"values":\[\[0,12\]\]/, 'minutes 1-3 of 4 containers, from the stream');
    assert.equal((await store.health()).rollupBackfillsWaiting as number > 0, true);
    await store.backfillRollups();
    assert.match(await rollupRows(), /"values":\[\[0,20\]\]/, 'one rollup row per container and minute (4 x 5)');
    // Rows from the stream equal what InfluxDB computes from the raw points.
    const fromRaw = await fetch(`${url}/query?db=${bucket}&epoch=ms&q=${encodeURIComponent(
      `SELECT sum(cpu_percent), count(cpu_percent), max(net_rx_bytes) FROM container WHERE time >= ${T0 + 60_000}ms AND time < ${T0 + 240_000}ms GROUP BY time(1m), container_id`)}`);
    const fromStream = await fetch(`${url}/query?db=${bucket}&epoch=ms&q=${encodeURIComponent(
      `SELECT cpu_percent_sum, cpu_percent_n, net_rx_bytes FROM container_1m WHERE time >= ${T0 + 60_000}ms AND time < ${T0 + 240_000}ms GROUP BY container_id`)}`);
    const rowsOf = (j: { results: Array<{ series?: Array<{ tags: Record<string, string>; values: number[][] }> }> }): Map<string, number[][]> =>
      new Map((j.results[0]!.series ?? []).map((x) => [x.tags.container_id!, x.values]));
    const raw3 = rowsOf(await fromRaw.json() as never);
    const stream3 = rowsOf(await fromStream.json() as never);
    assert.equal(stream3.size, 4);
    for (const [id, rows] of stream3) {
      assert.equal(rows.length, 3, id);
      rows.forEach((r, k) => { r.forEach((v, col) => close(v, raw3.get(id)![k]![col], `${id} minute ${k} column ${col}`)); });
    }
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

test('influx 1.6.7: container events stored once (resends), read by container, host, actions and range; in the database\'s retention policy', async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const bucket = dbName();
  const store = createInfluxStore({ url, bucket, retentionDays: 7 });
  try {
    const f = eventFixture('ifx', Date.now() - 3_600_000);
    await Promise.all(f.batches.map((b) => store.writeBatch(b)));
    await Promise.all(f.resends.map((b) => store.writeBatch(b)));
    // A fresh adapter (nothing cached) reads what the server has.
    const reader = createInfluxStore({ url, bucket });
    await checkStoredEvents(reader, f);
    await reader.close();
    // Events go to the database's default retention policy, the one created with RETENTION_DAYS
    // for the samples: they expire with them.
    const rp = await (await fetch(`${url}/query?q=${encodeURIComponent(`SHOW RETENTION POLICIES ON "${bucket}"`)}`)).json() as
      { results: Array<{ series: Array<{ values: Array<[string, string, string, number, boolean]> }> }> };
    const policies = rp.results[0]!.series[0]!.values;
    const def = policies.find((v) => v[4] === true)!;
    assert.equal(def[1], '168h0m0s');
    const n = await (await fetch(`${url}/query?db=${bucket}&q=${encodeURIComponent(`SELECT count(exit_code) FROM "${bucket}"."${def[0]}"."container_event"`)}`)).text();
    assert.match(n, /"values":\[\["1970-01-01T00:00:00Z",9\]\]/, n);
  } finally {
    await store.close();
    await dropDb(url, bucket);
  }
});

test('influx rollups: a minute with a gap is recomputed from raw points after the grace; a new process recomputes the minutes before it', async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const bucket = dbName();
  const rows = async (where: string): Promise<Array<[number, number, number]>> => {
    const r = await fetch(`${url}/query?db=${bucket}&epoch=ms&q=${encodeURIComponent(`SELECT cpu_percent_sum, cpu_percent_n FROM container_1m WHERE ${where}`)}`);
    return ((await r.json() as { results: Array<{ series?: Array<{ values: Array<[number, number, number]> }> }> }).results[0]!.series?.[0]?.values) ?? [];
  };
  const until = async (what: string, f: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (!(await f())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  // A process that died before rolling anything up: raw points only, minutes -3 and -2.
  const dead = createInfluxStore({ url, bucket, rollups: false });
  const T1 = minute - 3 * 60_000;
  for (let i = 0; i < 120; i++) await dead.writeBatch(makeBatch('agent-d', 'host-d', ['dead1'], T1 + i * 1000, i, false));
  await dead.close();

  const store = createInfluxStore({ url, bucket, backfillEveryMs: 100, backfillGraceMs: 300 });
  try {
    // One sample lost in the second of three minutes, twenty minutes ago.
    const T0 = minute - 20 * 60_000;
    const sent = Array.from({ length: 180 }, (_, i) => makeBatch('agent-g', 'host-g', ['gap1'], T0 + i * 1000, i, false)).filter((_, i) => i !== 75);
    for (const b of sent) await store.writeBatch(b);
    const want = (m: number): [number, number] => {
      const inMinute = sent.filter((b) => b.timestampMs >= m && b.timestampMs < m + 60_000).map((b) => b.containers[0]!.cpuPercent);
      return [inMinute.reduce((a, v) => a + v, 0), inMinute.length];
    };
    // Minute 0 (first seen) and 1 (the gap) are recomputed once the grace is over; 2 is open.
    await until('minutes 0 and 1 recomputed', async () => (await rows(`container_id = 'gap1'`)).length === 2);
    const got = await rows(`container_id = 'gap1'`);
    assert.deepEqual(got.map((r) => r[0]), [T0, T0 + 60_000]);
    got.forEach((r, k) => { const [sum, n] = want(T0 + k * 60_000); close(r[1], sum, `sum ${k}`); assert.equal(r[2], n); });
    assert.equal(got[1]![2], 59, 'the minute with the gap counts the samples that exist');
    // The new process's own first write landed: the minutes before its start are recomputed.
    await until('the dead process\'s minutes recomputed', async () => (await rows(`container_id = 'dead1'`)).length === 2);
    assert.deepEqual((await rows(`container_id = 'dead1'`)).map((r) => [r[0], r[2]]), [[T1, 60], [T1 + 60_000, 60]]);
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
