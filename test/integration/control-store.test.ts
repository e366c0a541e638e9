// The ControlStore adapters: one contract (test/helpers/control-store-contract.ts) run against
// SQLite in a temp dir and against the shared real redis-server (TEST_REDIS_URL, a unique key
// prefix per run), then what only one of them has: the SQLite file's durability and
// ownership, the Redis key layout and error mapping.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Redis } from 'ioredis';
import type { ControlStore } from '../../src/application/control-ports.js';
import { createSqliteControlStore } from '../../src/infrastructure/sqlite/control-store.js';
import { createSqliteStore } from '../../src/infrastructure/sqlite/store.js';
import { createRedisControlStore } from '../../src/infrastructure/redis/control-store.js';
import { createRedisClient, waitReady } from '../../src/infrastructure/redis/connection.js';
import { attemptOf, auditOf, registerControlStoreContract, silenceOf } from '../helpers/control-store-contract.js';
import { requireEnv } from '../helpers/env.js';

const made: string[] = [];
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-control-')); made.push(d); return d; };

// ---------- SQLite ----------

registerControlStoreContract('sqlite', async () => {
  const store = createSqliteControlStore({ dataDir: tmp() });
  return { store, peer: store, dispose: () => store.close() };
});

// ---------- Redis ----------

// Required, never skipped: without TEST_REDIS_URL (CI or not) every Redis case fails with the hint.
const runPrefix = `dwtest:control:${randomUUID()}:`;
let clients: Promise<[Redis, Redis]> | undefined;
const redisClients = (): Promise<[Redis, Redis]> => {
  clients ??= (async () => {
    const url = requireEnv('TEST_REDIS_URL');
    const pair: [Redis, Redis] = [createRedisClient(url), createRedisClient(url)];
    await Promise.all(pair.map((c) => waitReady(c)));
    return pair;
  })();
  return clients;
};
let backends = 0;
registerControlStoreContract('redis', async () => {
  const [a, b] = await redisClients();
  const keyPrefix = `${runPrefix}${backends++}:`;
  // Two connections with one prefix: two replicas sharing the data.
  const store = createRedisControlStore(a, { keyPrefix });
  const peer = createRedisControlStore(b, { keyPrefix });
  return { store, peer, dispose: async () => { await store.close(); await peer.close(); } };
});

after(async () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  if (!clients) return;
  const [a, b] = await clients.catch(() => [] as Redis[]);
  if (a) {
    let cursor = '0';
    do {
      const [next, keys] = await a.scan(cursor, 'MATCH', `${runPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await a.del(...keys);
    } while (cursor !== '0');
  }
  a?.disconnect(); b?.disconnect();
});

test('redis: key layout: hashes, the audit stream (capped), autoheal keys expire in a day', async () => {
  const [a] = await redisClients();
  const p = `${runPrefix}layout:`;
  const store = createRedisControlStore(a, { keyPrefix: p });
  const now = Date.now();
  await store.putSilence(silenceOf('s1', { endsAtMs: now + 60_000 }));
  await store.acknowledge({ alertId: 'al', by: 'alice', atMs: now, comment: '' });
  await store.appendAudit(auditOf('e1', now));
  await store.putAutohealAttempt({ host: 'h1', containerId: 'c1' }, attemptOf('k1', now));
  await store.setGaveUp({ host: 'h1', containerId: 'c1' }, now);
  await store.setValue('k', 'v');
  assert.equal(await a.type(`${p}silences`), 'hash');
  assert.equal(await a.type(`${p}acks`), 'hash');
  assert.equal(await a.type(`${p}audit`), 'stream');
  assert.equal(await a.type(`${p}autoheal:h1:c1`), 'hash');
  assert.equal(await a.type(`${p}autoheal-host:h1`), 'zset');
  assert.equal(await a.hget(`${p}autoheal-gaveup`, 'h1:c1'), String(now));
  assert.equal(await a.hget(`${p}kv`, 'k'), 'v');
  for (const k of [`${p}autoheal:h1:c1`, `${p}autoheal-host:h1`]) {
    const ttl = await a.pttl(k);
    assert.ok(ttl > 86_400_000 - 60_000 && ttl <= 86_400_000, `${k} expires in a day (pttl ${ttl})`);
  }
  const [entry] = await a.xrange(`${p}audit`, '-', '+') as Array<[string, string[]]>;
  assert.equal(entry![0].split('-')[0], String(now), 'the stream id carries atMs');
  // The same connection still works after close(): the composition root owns it.
  await store.close();
  assert.equal(await a.ping(), 'PONG');
  await assert.rejects(store.getSilence('s1'), { name: 'AppError', code: 'UNAVAILABLE' });
});

test('redis: an unreachable server fails every call with AppError UNAVAILABLE "redis: ..."', async () => {
  const dead = createRedisClient('redis://127.0.0.1:1');
  try {
    const store = createRedisControlStore(dead, { keyPrefix: `${runPrefix}dead:` });
    const calls: Array<() => Promise<unknown>> = [
      () => store.putSilence(silenceOf('x')),
      () => store.listSilences(0),
      () => store.acknowledge({ alertId: 'a', by: 'b', atMs: 1, comment: '' }),
      () => store.getAcks(['a']),
      () => store.appendAudit(auditOf('e', 1)),
      () => store.listAudit({ limit: 10 }),
      () => store.putAutohealAttempt({ host: 'h', containerId: 'c' }, attemptOf('k', 1)),
      () => store.hostAutohealTimes('h', 0),
      () => store.setGaveUp({ host: 'h', containerId: 'c' }, 1),
      () => store.getValue('k'),
    ];
    for (const call of calls) {
      await assert.rejects(call(), (err: Error & { code?: string }) => {
        assert.equal(err.name, 'AppError');
        assert.equal(err.code, 'UNAVAILABLE');
        assert.match(err.message, /^redis: /);
        assert.ok(err.cause, 'the ioredis error is kept as the cause');
        return true;
      });
    }
  } finally { dead.disconnect(); }
});

// ---------- SQLite only: the file ----------

/** Everything the store holds, read through the port, for before/after comparisons. */
async function snapshot(s: ControlStore): Promise<unknown> {
  const c = { host: 'h1', containerId: 'c1' };
  return {
    silence: await s.getSilence('s1'),
    silences: await s.listSilences(0),
    acks: [...(await s.getAcks(['al-1', 'al-2']))],
    audit: await s.listAudit({ limit: 100 }),
    attempts: await s.autohealAttempts(c),
    hostTimes: await s.hostAutohealTimes('h1', 0),
    gaveUp: await s.getGaveUp(c),
    kv: await s.getValue('k'),
  };
}

test('sqlite: everything survives close and reopen; a second open of the same file is refused while the first is open', async () => {
  const dir = tmp();
  const now = Date.now();
  const c = { host: 'h1', containerId: 'c1' };
  let store = createSqliteControlStore({ dataDir: dir });
  assert.equal(store.file, path.join(dir, 'control.db'));
  await store.putSilence(silenceOf('s1', { endsAtMs: now + 60_000 }));
  await store.putSilence(silenceOf('s2', { createdAtMs: 5 }));
  await store.acknowledge({ alertId: 'al-1', by: 'alice', atMs: now, comment: 'x' });
  for (let i = 0; i < 5; i++) await store.appendAudit(auditOf(`e${i}`, now + i));
  await store.putAutohealAttempt(c, attemptOf('k1', now - 1_000));
  await store.putAutohealAttempt(c, attemptOf('k1', now - 1_000, { outcome: 'restarted' }));
  await store.putAutohealAttempt(c, attemptOf('k2', now));
  await store.setGaveUp(c, now);
  await store.setValue('k', 'v');
  const before = await snapshot(store);

  // In this process: our own pid in the owner file must not pass for a stale lock.
  assert.throws(() => createSqliteControlStore({ dataDir: dir }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CONFLICT');
    assert.match(err.message, /control\.db is already open in this process/);
    return true;
  });
  // From another process: refused, naming our pid.
  assert.match(await childOpen(dir), new RegExp(`^refused CONFLICT .*control\\.db is in use by process ${process.pid}$`));
  assert.deepEqual(await snapshot(store), before, 'the refused opens did not disturb the open store');
  await store.appendAudit(auditOf('e5', now + 5));

  await store.close();
  assert.equal(fs.existsSync(`${store.file}.lock`), false, 'close releases the lock');
  store = createSqliteControlStore({ dataDir: dir });
  const after1 = await snapshot(store) as { audit: unknown[] };
  assert.equal(after1.audit.length, 6);
  assert.deepEqual({ ...after1, audit: after1.audit.slice(1) }, before);
  // Appends continue after the reopen, newest first still.
  await store.appendAudit(auditOf('e6', now + 6));
  assert.deepEqual((await store.listAudit({ limit: 2 })).map((e) => e.id), ['e6', 'e5']);
  await store.close();
  assert.equal(await childOpen(dir), 'opened', 'another process may open it once closed');
});

test('sqlite: the control store and the metrics store are separate files in one DATA_DIR', async () => {
  const dir = tmp();
  const metrics = createSqliteStore({ dataDir: dir, compactEveryMs: 0 });
  const control = createSqliteControlStore({ dataDir: dir });
  try {
    await control.setValue('k', 'v');
    assert.notEqual(control.file, metrics.file);
    assert.ok(fs.existsSync(path.join(dir, 'control.db')) && fs.existsSync(path.join(dir, 'dockwatch.db')));
  } finally {
    await control.close();
    await metrics.close();
  }
  const again = createSqliteControlStore({ dataDir: dir, fileName: 'control.db' });
  assert.equal(await again.getValue('k'), 'v');
  await again.close();
});

test('sqlite: every resolved write survives kill -9 of the writer, and its stale lock is cleared', async () => {
  const dir = tmp();
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/control-store-writer.ts', 'write', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lastAcked = -1;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('writer too slow')); }, 60_000);
    child.stdout!.setEncoding('utf8');
    let buf = '';
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n'); buf = lines.pop()!;
      for (const l of lines) lastAcked = Number(l.split(' ')[1]);
      if (lastAcked >= 150) { clearTimeout(timer); child.kill('SIGKILL'); resolve(); }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const file = path.join(dir, 'control.db');
  assert.ok(fs.existsSync(`${file}.lock`), 'the killed writer left its lock');
  assert.ok(fs.existsSync(`${file}.owner`), 'and its owner file (a dead pid)');

  const store = createSqliteControlStore({ dataDir: dir });
  try {
    const got = await store.listAudit({ actor: 'writer', limit: 100_000 });
    assert.ok(got.length >= lastAcked + 1, `acked ${lastAcked + 1} events, found ${got.length}`);
    // Every acked one is there, and nothing but whole events.
    const seen = new Set(got.map((e) => e.id));
    for (let i = 0; i <= lastAcked; i++) assert.ok(seen.has(`k-${i}`), `k-${i} lost`);
    assert.ok(Number(await store.getValue('last')) >= lastAcked);
  } finally { await store.close(); }
});

function childOpen(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/control-store-writer.ts', 'open', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { out += d; });
    child.once('error', reject);
    child.once('exit', () => resolve(out.trim()));
  });
}
