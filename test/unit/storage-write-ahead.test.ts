// The resilient store's write-ahead policy, over a database stand-in whose writes the test
// holds and releases (the real InfluxDB paths are in test/integration/store-influx-fault.test.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MetricsStore } from '../../src/application/store-ports.js';
import { AppError } from '../../src/application/errors.js';
import { createResilientStore, type EncodedWriter } from '../../src/infrastructure/resilience/store.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';

const made: string[] = [];
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-write-ahead-')); made.push(d); return d; };
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A database whose writes wait for `open()`, or fail while `down`; it records what it took. */
function heldDatabase() {
  let release: () => void = () => undefined;
  let held: Promise<void> = Promise.resolve();
  const hold = (): void => { held = new Promise<void>((r) => { release = r; }); };
  hold();
  const taken: string[] = [];
  const db = {
    down: false,
    taken,
    open(): void { release(); },
    hold,
    store: {
      encodeBatch: (b) => `${b.agentId}:${b.sequence}`,
      encodeAlert: (e) => `alert:${e.id}`,
      encodedCodec: { encode: (s: string) => Buffer.from(s), decode: (b: Buffer) => b.toString() },
      async writeEncoded(s: string) {
        if (db.down) throw new AppError('UNAVAILABLE', 'database down');
        await held;
        taken.push(s);
      },
      health: async () => ({ backend: 'influxdb' as const, ok: true }),
      // Answers from memory, as the InfluxDB store's are for ids it has seen.
      hasContainer: async () => true,
      knowsContainer: () => true,
      knowsHost: () => true,
      close: async () => undefined,
    } as Partial<MetricsStore> & EncodedWriter<string> as MetricsStore & EncodedWriter<string>,
  };
  return db;
}

const ids = containerIds('wa', 2);
const batchN = (n: number) => makeBatch('agent-wa', 'host-wa', ids, 1_700_000_000_000 + n * 1000, n);

const key = (n: number): string => { const b = batchN(n); return `${b.agentId}:${b.sequence}`; };

test('write-ahead: acked once spooled, written behind; past the lag limit new writes wait for the database', async () => {
  const db = heldDatabase();
  const store = await createResilientStore(db.store, { dataDir: tmp(), maxLagBytes: 150, replayIntervalMs: 50 });
  try {
    // The database holds every write: batches are acked from the spool alone until the spool
    // holds more than the lag limit; the write after that waits.
    let waiting: Promise<void> | undefined;
    let n = 0;
    for (; n < 30 && !waiting; n++) {
      const w = store.writeBatch(batchN(n));
      if (await Promise.race([w.then(() => true), sleep(300).then(() => false)])) continue;
      waiting = w;
    }
    assert.ok(waiting, 'a write waited');
    assert.ok(n > 3, `the first writes were acked at once (${n - 1} before one waited)`);
    assert.deepEqual(db.taken, [], 'nothing reached the database yet');
    assert.ok(store.spoolStats().bytes > 150, 'the spool holds more than the lag limit');
    db.open();
    await waiting;
    for (let i = 0; i < 100 && store.spoolStats().batches > 0; i++) await sleep(20);
    assert.deepEqual(db.taken, Array.from({ length: n }, (_, k) => key(k)), 'all written, in order');
  } finally { await store.close(); }
});

test('write-ahead: during an outage the lag limit does not apply; the spool takes batches until the database is back', async () => {
  const db = heldDatabase();
  db.open();
  db.down = true;
  const store = await createResilientStore(db.store, {
    dataDir: tmp(), maxLagBytes: 100, replayIntervalMs: 50,
    breaker: { failureThreshold: 1, resetTimeoutMs: 300 }, retry: { attempts: 0 },
  });
  try {
    await store.writeBatch(batchN(0));
    for (let i = 0; i < 100 && store.breakerState() !== 'open'; i++) await sleep(20);
    assert.equal(store.breakerState(), 'open');
    // Acked one after another although the spool is far past the lag limit.
    for (let n = 1; n < 30; n++) await store.writeBatch(batchN(n));
    assert.ok(store.spoolStats().bytes > 100);
    db.down = false;
    for (let i = 0; i < 200 && store.spoolStats().batches > 0; i++) await sleep(25);
    assert.deepEqual(db.taken, Array.from({ length: 30 }, (_, n) => key(n)));
  } finally { await store.close(); }
});

test('breaker: answers from memory (health, an id already seen) neither keep the circuit closed during an outage nor close it as the half-open probe', async () => {
  const db = heldDatabase();
  db.open();
  db.down = true;
  const store = await createResilientStore(db.store, {
    dataDir: tmp(), replayIntervalMs: 20,
    breaker: { failureThreshold: 5, resetTimeoutMs: 400 }, retry: { attempts: 0 },
  });
  const states: string[] = [];
  store.onBreakerState((s) => states.push(s));
  // A health probe and a history request's container check between every failed write.
  let polling = true;
  const poll = (async () => {
    while (polling) {
      await store.health();
      assert.equal(await store.hasContainer('seen-before'), true);
      await sleep(5);
    }
  })();
  try {
    for (let n = 0; n < 8; n++) { await store.writeBatch(batchN(n)); await sleep(30); }
    for (let i = 0; i < 100 && store.breakerState() !== 'open'; i++) await sleep(20);
    assert.equal(store.breakerState(), 'open', `states: ${states.join(' ')}`);
    // Half-open after the reset timeout: the polls go on, the writer's probe fails, it opens again.
    for (let i = 0; i < 100 && !states.includes('halfOpen'); i++) await sleep(20);
    await sleep(200);
    assert.ok(!states.includes('closed'), `closed with the database still down: ${states.join(' ')}`);
    db.down = false;
    for (let i = 0; i < 200 && (store.breakerState() !== 'closed' || store.spoolStats().batches > 0); i++) await sleep(25);
    assert.equal(store.breakerState(), 'closed');
    assert.deepEqual(db.taken, Array.from({ length: 8 }, (_, n) => key(n)));
  } finally {
    polling = false;
    await poll;
    await store.close();
  }
});
