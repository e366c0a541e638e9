import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createSqliteStore } from '../../src/infrastructure/sqlite/store.js';
import { aggregate, CONTAINER_METRICS, containerValues, HOST_METRICS, hostValues } from '../../src/domain/rollup.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';
import { checkStoredEvents, eventFixture } from '../helpers/store-events-contract.js';

const MIN = 60_000;
const DAY = 86_400_000;
const made: string[] = [];
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-sqlite-')); made.push(d); return d; };
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

function close(a: number | null, b: number | null): void {
  if (a === null || b === null) { assert.equal(a, b); return; }
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${a} != ${b}`);
}

test('sqlite: writes read back aggregated per step, idempotently, and survive a reopen', async () => {
  const dir = tmp();
  const T0 = Date.parse('2026-11-20T10:00:00Z');
  let clock = T0 + 3_600_000;
  const ids = containerIds('sq', 3);
  const batches = Array.from({ length: 600 }, (_, i) => makeBatch('agent-1', 'host-a', ids, T0 + i * 1000 + 7, i));
  let store = createSqliteStore({ dataDir: dir, now: () => clock, compactEveryMs: 0 });
  for (const b of batches) await store.writeBatch(b);
  for (const b of batches.slice(0, 50)) await store.writeBatch(b); // resends: same points

  assert.equal(await store.hasContainer(ids[0]!), true);
  assert.equal(await store.hasContainer('nope'), false);
  assert.equal(await store.hasHost('host-a'), true);
  assert.equal(await store.hasHost('agent-1'), true);

  const expectC = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: containerValues(b.containers[1]!) })), 10_000, CONTAINER_METRICS);
  const check = async (): Promise<void> => {
    const got = await store.queryContainer({ containerId: ids[1]!, fromMs: T0, toMs: T0 + 600_000, stepMs: 10_000 });
    assert.equal(got.length, expectC.length);
    got.forEach((p, k) => {
      assert.equal(p.timestampMs, expectC[k]!.timestampMs);
      for (const m of CONTAINER_METRICS) close(p.values[m.key]!, expectC[k]!.values[m.key]!);
    });
  };
  await check();
  const raw = await store.queryContainer({ containerId: ids[1]!, fromMs: T0, toMs: T0 + 600_000, stepMs: 1000 });
  assert.equal(raw.length, 600, 'resends did not duplicate points');

  const expectH = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: hostValues(b.host!) })), MIN, HOST_METRICS);
  const gotH = await store.queryHost({ hostId: 'host-a', fromMs: T0, toMs: T0 + 600_000, stepMs: MIN });
  assert.deepEqual(gotH.map((p) => p.timestampMs), expectH.map((p) => p.timestampMs));
  gotH.forEach((p, k) => { for (const m of HOST_METRICS) close(p.values[m.key]!, expectH[k]!.values[m.key]!); });

  const latest = await store.latestContainer(ids[2]!);
  assert.equal(latest?.timestampMs, batches.at(-1)!.timestampMs);

  // The ledger and the data survive a restart.
  store.ledger().record('agent-1', 1_000_599);
  await store.close();
  store = createSqliteStore({ dataDir: dir, now: () => clock, compactEveryMs: 0 });
  assert.equal(store.ledger().lastAcked('agent-1'), 1_000_599);
  await check();

  // A 1-minute step is answered from rollups after compaction, with the same values.
  clock = T0 + 2 * 3_600_000;
  store.compact();
  const expectM = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: containerValues(b.containers[1]!) })), 2 * MIN, CONTAINER_METRICS);
  const gotM = await store.queryContainer({ containerId: ids[1]!, fromMs: T0, toMs: T0 + 600_000, stepMs: 2 * MIN });
  assert.deepEqual(gotM.map((p) => p.timestampMs), expectM.map((p) => p.timestampMs));
  gotM.forEach((p, k) => { for (const m of CONTAINER_METRICS) close(p.values[m.key]!, expectM[k]!.values[m.key]!); });
  assert.equal((await store.health()).journalMode, 'wal');
  await store.close();
});

test('sqlite: container events stored once (resends), read by container, host, actions and range; kept across a reopen, dropped after RETENTION_DAYS', async () => {
  const dir = tmp();
  const T0 = Date.parse('2026-11-20T10:00:00Z');
  let clock = T0 + 60_000;
  const f = eventFixture('sq', T0);
  let store = createSqliteStore({ dataDir: dir, now: () => clock, retentionDays: 3, compactEveryMs: 0 });
  // Concurrent writes share a transaction (group commit): resends in the same group and later.
  await Promise.all([...f.batches, f.resends[0]!].map((b) => store.writeBatch(b)));
  for (const b of f.resends) await store.writeBatch(b);
  await checkStoredEvents(store, f);
  await store.close();
  store = createSqliteStore({ dataDir: dir, now: () => clock, retentionDays: 3, compactEveryMs: 0 });
  await checkStoredEvents(store, f);
  // Compaction within the retention keeps them; past it they go, as the samples' last tier does.
  store.compact();
  assert.equal((await store.queryEvents({ containerId: f.ids.web, fromMs: T0, toMs: T0 + 10_000, limit: 100 })).length, 5);
  clock = T0 + 3 * DAY + 60_000;
  store.compact();
  assert.deepEqual(await store.queryEvents({ host: f.host, fromMs: T0, toMs: T0 + 10_000, limit: 100 }), []);
  await store.close();
});

test('sqlite: retention keeps raw a day, then rollups, up to RETENTION_DAYS (injected clock)', async () => {
  const dir = tmp();
  const start = Date.parse('2026-01-01T00:00:00Z');
  let clock = start;
  const store = createSqliteStore({ dataDir: dir, now: () => clock, retentionDays: 10, compactEveryMs: 0 });
  const [id] = containerIds('ret', 1) as [string];
  // One sample every 30 s for 12 days, compacting every simulated hour as the timer would.
  const points: Array<{ timestampMs: number; values: Record<string, number> }> = [];
  for (let ts = start, i = 0; ts < start + 12 * DAY; ts += 30_000, i++) {
    const b = makeBatch('agent-r', 'host-r', [id], ts, i, false);
    await store.writeBatch(b);
    points.push({ timestampMs: ts, values: containerValues(b.containers[0]!) });
    clock = ts;
    if (i % 120 === 0) store.compact();
  }
  clock = start + 12 * DAY;
  store.compact();

  // Raw: only the last day answers at 30 s resolution.
  const rawRecent = await store.queryContainer({ containerId: id, fromMs: clock - 2 * 3_600_000, toMs: clock, stepMs: 30_000 });
  assert.equal(rawRecent.length, 240);
  // 3 days ago at 1 min: from 1-minute rollups, values equal to the raw aggregation.
  const from3 = clock - 3 * DAY;
  const got1m = await store.queryContainer({ containerId: id, fromMs: from3, toMs: from3 + 3_600_000 - 1, stepMs: MIN });
  const want1m = aggregate(points.filter((p) => p.timestampMs >= from3 && p.timestampMs < from3 + 3_600_000), MIN, CONTAINER_METRICS);
  assert.equal(got1m.length, 60);
  got1m.forEach((p, k) => { for (const m of CONTAINER_METRICS) close(p.values[m.key]!, want1m[k]!.values[m.key]!); });
  // 9 days ago: only 10-minute rollups remain (1-minute kept 7 days), so an hour at 10 min is 6 points.
  const from9 = clock - 9 * DAY;
  const got10 = await store.queryContainer({ containerId: id, fromMs: from9, toMs: from9 + 3_600_000 - 1, stepMs: 10 * MIN });
  const want10 = aggregate(points.filter((p) => p.timestampMs >= from9 && p.timestampMs < from9 + 3_600_000), 10 * MIN, CONTAINER_METRICS);
  assert.equal(got10.length, 6);
  got10.forEach((p, k) => { for (const m of CONTAINER_METRICS) close(p.values[m.key]!, want10[k]!.values[m.key]!); });
  // Past the 10-day retention: nothing.
  const old = await store.queryContainer({ containerId: id, fromMs: start, toMs: start + DAY, stepMs: 10 * MIN });
  assert.equal(old.length, 0);
  // A 30-day chart at auto step (1 h) spans tiers and returns every hour that still has data.
  const month = await store.queryContainer({ containerId: id, fromMs: clock - 30 * DAY, toMs: clock, stepMs: 3_600_000 });
  assert.ok(month.length >= 10 * 24 - 1 && month.length <= 10 * 24 + 1, `got ${month.length}`);
  await store.close();
});

test('sqlite: an acked write survives kill -9 of the writer, and the stale lock is cleared', async () => {
  const dir = tmp();
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/storage-sqlite-writer.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lastAcked = -1;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer too slow')), 60_000);
    child.stdout!.setEncoding('utf8');
    let buf = '';
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n'); buf = lines.pop()!;
      for (const l of lines) lastAcked = Number(l.split(' ')[1]);
      if (lastAcked >= 200) { clearTimeout(timer); child.kill('SIGKILL'); resolve(); }
    });
  });
  await new Promise((r) => child.once('exit', r));
  assert.ok(fs.existsSync(path.join(dir, 'dockwatch.db.lock')), 'the killed writer left its lock');
  const store = createSqliteStore({ dataDir: dir, compactEveryMs: 0 });
  const [id] = containerIds('kill', 1) as [string];
  const got = await store.queryContainer({ containerId: id, fromMs: 0, toMs: Date.now() + 3_600_000_000, stepMs: 1000 });
  assert.ok(got.length >= lastAcked + 1, `acked ${lastAcked + 1} batches, found ${got.length}`);
  await store.close();
});
