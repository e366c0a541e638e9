import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInfluxStore } from '../../src/infrastructure/influx/store.js';
import { createResilientStore } from '../../src/infrastructure/resilience/store.js';
import type { BreakerState } from '../../src/infrastructure/resilience/breaker.js';
import { requireEnv } from '../helpers/env.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';
import { freePort, startInfluxd, storedTimestamps } from '../helpers/storage-influxd.js';
import { checkStoredEvents, eventFixture } from '../helpers/store-events-contract.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const made: string[] = [];
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-fault-')); made.push(d); return d; };
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(250);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('fault: influxd killed -9 for 40 s while batches stream; every batch lands exactly once', { timeout: 180_000 }, async () => {
  const influxd = await startInfluxd();
  const bucket = `dw_storage_fault_${randomUUID().slice(0, 8)}`;
  const states: BreakerState[] = [];
  const store = await createResilientStore(createInfluxStore({ url: influxd.url, bucket, timeoutMs: 3000 }), {
    dataDir: tmp(),
    breaker: { resetTimeoutMs: 2000, timeoutMs: 5000 },
    retry: { initialDelayMs: 100 },
    replayIntervalMs: 300,
  });
  store.onBreakerState((s) => states.push(s));
  const agents = [0, 1].map((a) => ({ id: `agent-f${a}`, ids: containerIds(`flt${a}`, 5), acked: [] as number[] }));
  let running = true;
  const t0 = Date.parse('2026-11-21T12:00:00Z');
  const loops = agents.map(async (ag) => {
    for (let i = 0; running; i++) {
      const b = makeBatch(ag.id, `host-${ag.id}`, ag.ids, t0 + i * 1000, i);
      await store.writeBatch(b); // resolves = acked (durable in InfluxDB or in the spool)
      ag.acked.push(b.timestampMs);
      await sleep(100);
    }
  });
  try {
    await sleep(3000);
    await influxd.kill();
    const killedAt = Date.now();
    await waitFor('breaker open', () => store.breakerState() === 'open', 30_000);
    const h = await store.health();
    assert.equal(h.breaker, 'open');
    assert.equal(h.ok, false);
    await sleep(Math.max(0, 40_000 - (Date.now() - killedAt)));
    const during = store.spoolStats();
    assert.ok(during.batches > 100, `batches kept acking into the spool while influxd was down (${during.batches})`);
    await influxd.start();
    await sleep(3000);
    running = false;
    await Promise.all(loops);
    await waitFor('spool drained', () => store.spoolStats().batches === 0 && store.breakerState() === 'closed', 60_000);
    const after = await store.health();
    assert.equal(after.breaker, 'closed');
    assert.equal(after.spoolBatches, 0);

    for (const ag of agents) {
      for (const id of ag.ids) {
        const got = await storedTimestamps(influxd.url, bucket, id);
        assert.deepEqual(got, ag.acked, `${id}: every acked sample once, in InfluxDB`);
      }
    }
    // open -> halfOpen -> closed happened, in that order.
    const o = states.indexOf('open');
    const ho = states.indexOf('halfOpen', o);
    const c = states.indexOf('closed', ho);
    assert.ok(o >= 0 && ho > o && c > ho, `state changes: ${states.join(' ')}`);
  } finally {
    running = false;
    await Promise.allSettled(loops);
    await store.close();
    await influxd.kill();
    fs.rmSync(influxd.dir, { recursive: true, force: true });
  }
});

test('fault: the server is killed -9 with a full spool; a restart replays it into InfluxDB', { timeout: 120_000 }, async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const dataDir = tmp();
  const bucket = `dw_storage_spool_${randomUUID().slice(0, 8)}`;
  const deadPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/storage-spool-writer.ts', dataDir, `http://127.0.0.1:${deadPort}`, bucket],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = -1;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('writer too slow')), 60_000);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n'); buf = lines.pop()!;
      for (const l of lines) last = Number(l.split(' ')[1]);
      if (last >= 150) { clearTimeout(timer); child.kill('SIGKILL'); resolve(); }
    });
  });
  await new Promise((r) => child.once('exit', r));

  const store = await createResilientStore(createInfluxStore({ url, bucket }), { dataDir, replayIntervalMs: 200 });
  try {
    assert.ok(store.spoolStats().batches >= last + 1, `spool holds the ${last + 1} acked batches`);
    await waitFor('replay on start', () => store.spoolStats().batches === 0, 30_000);
    const t0 = Date.parse('2026-11-21T00:00:00Z');
    const [id] = containerIds('spw', 1) as [string];
    const got = await storedTimestamps(url, bucket, id);
    assert.ok(got.length >= last + 1, `found ${got.length} of ${last + 1}`);
    assert.deepEqual(got.slice(0, last + 1), Array.from({ length: last + 1 }, (_, i) => t0 + i * 1000));
  } finally {
    await store.close();
    await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' });
  }
});

test('fault: a spooled batch the database refuses for good is dropped, the rest replays', { timeout: 60_000 }, async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const dataDir = tmp();
  const bucket = `dw_storage_poison_${randomUUID().slice(0, 8)}`;
  const down = await createResilientStore(createInfluxStore({ url: `http://127.0.0.1:${await freePort()}`, bucket, timeoutMs: 1000 }), {
    dataDir, breaker: { failureThreshold: 1, resetTimeoutMs: 60_000 }, retry: { attempts: 0 },
  });
  const now = Date.now();
  const ids = containerIds('poison', 2);
  const batches = [0, 1, 2, 3].map((i) => makeBatch('agent-p', 'host-p', ids, now - (4 - i) * 1000, i));
  const stale = makeBatch('agent-p', 'host-p', ['stale-clock'], now - 60 * 86_400_000, 9, false); // beyond the 30-day retention
  for (const b of [batches[0]!, stale, ...batches.slice(1)]) await down.writeBatch(b);
  assert.equal(down.spoolStats().batches, 5);
  assert.equal(down.breakerState(), 'open');
  await down.close();

  const up = await createResilientStore(createInfluxStore({ url, bucket }), { dataDir, replayIntervalMs: 200 });
  try {
    await waitFor('replay', () => up.spoolStats().batches === 0, 30_000);
    assert.deepEqual(await storedTimestamps(url, bucket, ids[1]!), batches.map((b) => b.timestampMs));
    assert.equal(await up.hasContainer('stale-clock'), false);
    assert.equal(up.breakerState(), 'closed');
  } finally {
    await up.close();
    await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' });
  }
});

test('fault: container events acked into the spool while InfluxDB is down are written once it is up, each once', { timeout: 60_000 }, async () => {
  const url = requireEnv('TEST_INFLUXDB_URL');
  const dataDir = tmp();
  const bucket = `dw_storage_events_${randomUUID().slice(0, 8)}`;
  const down = await createResilientStore(createInfluxStore({ url: `http://127.0.0.1:${await freePort()}`, bucket, timeoutMs: 1000 }), {
    dataDir, breaker: { failureThreshold: 1, resetTimeoutMs: 60_000 }, retry: { attempts: 0 },
  });
  const f = eventFixture('spool', Date.now() - 600_000);
  for (const b of [...f.batches, ...f.resends]) await down.writeBatch(b); // acked: durable in the spool
  assert.equal(down.spoolStats().batches, f.batches.length + f.resends.length);
  await down.close();

  const up = await createResilientStore(createInfluxStore({ url, bucket }), { dataDir, replayIntervalMs: 200 });
  try {
    await waitFor('replay', () => up.spoolStats().batches === 0, 30_000);
    await checkStoredEvents(up, f);
  } finally {
    await up.close();
    await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' });
  }
});

test('influx 1.x with auth: a user without admin rights gets a clear message; batches wait in the spool', { timeout: 90_000 }, async () => {
  const influxd = await startInfluxd({ auth: true });
  const q = async (query: string, auth: string): Promise<Response> =>
    fetch(`${influxd.url}/query?q=${encodeURIComponent(query)}`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } });
  const warnings: string[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => { warnings.push(String(m)); }, child() { return log; } };
  let store: Awaited<ReturnType<typeof createResilientStore>> | undefined;
  try {
    // The first user created on an auth-enabled 1.x server may be created without credentials.
    assert.equal((await fetch(`${influxd.url}/query?q=${encodeURIComponent("CREATE USER admin WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES")}`, { method: 'POST' })).status, 200);
    assert.equal((await q("CREATE USER writer WITH PASSWORD 'writerpw'", 'admin:adminpw')).status, 200);
    const dataDir = tmp();
    store = await createResilientStore(createInfluxStore({ url: influxd.url, token: 'writer:writerpw', bucket: 'dw_auth', log }), {
      dataDir, breaker: { failureThreshold: 2, resetTimeoutMs: 1000 }, retry: { attempts: 0 }, replayIntervalMs: 200, log,
    });
    const ids = containerIds('auth', 2);
    const now = Date.now();
    const batches = [0, 1, 2].map((i) => makeBatch('agent-auth', 'host-auth', ids, now - (3 - i) * 1000, i));
    for (const b of batches) await store.writeBatch(b); // acked: durable in the spool
    // The writer behind the spool tries, fails, and says why; the batches stay spooled.
    await waitFor('the warning', () => warnings.some((w) => /cannot create InfluxDB database "dw_auth": the credentials lack the right/.test(w)), 10_000);
    await waitFor('the error in /health', async () => /database "dw_auth" does not exist and these credentials cannot create it/.test(String((await store!.health()).lastError)), 10_000);
    assert.equal(store.spoolStats().batches, 3);
    // The operator creates the database and grants writing: the spool drains on its own.
    assert.equal((await q('CREATE DATABASE dw_auth', 'admin:adminpw')).status, 200);
    assert.equal((await q('GRANT ALL ON dw_auth TO writer', 'admin:adminpw')).status, 200);
    await waitFor('spool drained', () => store!.spoolStats().batches === 0, 30_000);
    const res = await q(`SELECT count(cpu_percent) FROM container`, 'admin:adminpw');
    assert.equal(res.status, 200);
    const res2 = await fetch(`${influxd.url}/query?db=dw_auth&q=${encodeURIComponent('SELECT count(cpu_percent) FROM container')}`,
      { headers: { authorization: `Basic ${Buffer.from('admin:adminpw').toString('base64')}` } });
    assert.match(await res2.text(), /"count"\],"values":\[\["1970-01-01T00:00:00Z",6\]\]/);
  } finally {
    await store?.close();
    await influxd.kill();
    fs.rmSync(influxd.dir, { recursive: true, force: true });
  }
});
