// The embedded metrics store: one SQLite file under DATA_DIR through node-sqlite3-wasm (pure
// WASM, nothing to compile). Layout and durability:
// - Opened by open.ts: WAL with locking_mode=EXCLUSIVE and synchronous=FULL (an acked batch
//   survives kill -9 and power loss), and the stale `<file>.lock` check.
// - Tiers: raw rows for a day, 1-minute rollups for a week, 10-minute rollups for
//   RETENTION_DAYS. compact() builds rollups for finished buckets up to a watermark and purges
//   old rows; queries read a rollup tier below its watermark and raw rows above it, so the
//   newest minutes are never missing from a long chart.
// - Idempotent writes: primary key (series, ts) with INSERT OR REPLACE; container events keyed by
//   (container, ts, action), so a resent batch adds no event twice. Events are kept as long as
//   the longest tier (RETENTION_DAYS).
import fs from 'node:fs';
import path from 'node:path';
import type { Statement } from 'node-sqlite3-wasm';
import type { MetricBatch } from '../../domain/types.js';
import {
  bucketStart, chooseTier, containerValues, CONTAINER_METRICS, HOST_METRICS, hostValues, retentionTiers,
  type MetricDef, type SeriesPoint, type Tier,
} from '../../domain/rollup.js';
import type {
  AlertEvent, AlertQuery, ContainerRangeQuery, EventQuery, HostRangeQuery, LatestPoint, MetricsStore, StoreHealth,
  StoredContainerEvent,
} from '../../application/store-ports.js';
import type { Logger, SequenceLedger } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import { openDatabase, transaction } from './open.js';

export interface SqliteStoreOptions {
  /** Directory for the database file (DATA_DIR, default ./data). */
  dataDir: string;
  fileName?: string;
  /** RETENTION_DAYS, default 30. */
  retentionDays?: number;
  /** Injectable clock, so retention tests need no sleeping. */
  now?: () => number;
  /** Run compact() on a timer this often; 0 = only when called. Default 60 s. */
  compactEveryMs?: number;
  log?: Logger;
}

export interface SqliteStore extends MetricsStore {
  /** Build rollups for finished buckets and drop rows past their tier's retention. */
  compact(): void;
  /** A SequenceLedger whose marks survive restarts (flushed every second and at close). */
  ledger(): SequenceLedger;
  readonly file: string;
}

type Series = { metrics: readonly MetricDef<string>[]; key: string; raw: string; t1m: string; t10m: string }
const CONTAINER: Series = { metrics: CONTAINER_METRICS, key: 'container_id', raw: 'container_raw', t1m: 'container_1m', t10m: 'container_10m' };
const HOST: Series = { metrics: HOST_METRICS, key: 'host', raw: 'host_raw', t1m: 'host_1m', t10m: 'host_10m' };

const tableOf = (s: Series, tier: Tier): string => (tier.name === 'raw' ? s.raw : tier.name === '1m' ? s.t1m : s.t10m);
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN);
const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

function schema(s: Series): string {
  const cols = s.metrics.map((m) => `${m.column} REAL`).join(', ');
  return [
    `CREATE TABLE IF NOT EXISTS ${s.raw} (${s.key} TEXT NOT NULL, ts INTEGER NOT NULL, ${cols}, PRIMARY KEY (${s.key}, ts)) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS ${s.raw}_ts ON ${s.raw} (ts)`,
    ...[s.t1m, s.t10m].flatMap((t) => [
      `CREATE TABLE IF NOT EXISTS ${t} (${s.key} TEXT NOT NULL, ts INTEGER NOT NULL, n INTEGER NOT NULL, ${cols}, PRIMARY KEY (${s.key}, ts)) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${t}_ts ON ${t} (ts)`,
    ]),
  ].join(';\n');
}

export function createSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const now = opts.now ?? Date.now;
  const tiers = retentionTiers(opts.retentionDays ?? 30);
  const [rawTier, minuteTier, tenMinuteTier] = tiers as [Tier, Tier, Tier];
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const file = path.resolve(opts.dataDir, opts.fileName ?? 'dockwatch.db');
  const opened = openDatabase(file);
  const { db, journalMode: mode } = opened;
  // 64 MiB page cache: the default 2 MiB made every insert re-read index pages from the file.
  db.exec('PRAGMA cache_size=-65536');
  db.exec([
    schema(CONTAINER), schema(HOST),
    'CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY, name TEXT, image TEXT, host TEXT, last_seen INTEGER)',
    'CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, agent_id TEXT, last_seen INTEGER)',
    'CREATE INDEX IF NOT EXISTS hosts_agent ON hosts (agent_id)',
    'CREATE TABLE IF NOT EXISTS alerts (id TEXT NOT NULL, state TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, state, ts))',
    'CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts)',
    `CREATE TABLE IF NOT EXISTS container_events (container_id TEXT NOT NULL, ts INTEGER NOT NULL, action TEXT NOT NULL,
      host TEXT NOT NULL, container_name TEXT NOT NULL, exit_code INTEGER NOT NULL, health TEXT NOT NULL,
      PRIMARY KEY (container_id, ts, action)) WITHOUT ROWID`,
    'CREATE INDEX IF NOT EXISTS container_events_host ON container_events (host, ts)',
    'CREATE INDEX IF NOT EXISTS container_events_ts ON container_events (ts)',
    'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)',
    'CREATE TABLE IF NOT EXISTS ledger (agent_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)',
  ].join(';\n'));

  const insertRaw = (s: Series): Statement => db.prepare(
    `INSERT OR REPLACE INTO ${s.raw} VALUES (?, ?, ${s.metrics.map(() => '?').join(', ')})`);
  const stmts = {
    container: insertRaw(CONTAINER),
    host: insertRaw(HOST),
    containerMeta: db.prepare(`INSERT INTO containers VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET
      name = excluded.name, image = excluded.image, host = excluded.host, last_seen = max(last_seen, excluded.last_seen)`),
    hostMeta: db.prepare(`INSERT INTO hosts VALUES (?, ?, ?) ON CONFLICT(host) DO UPDATE SET
      agent_id = excluded.agent_id, last_seen = max(last_seen, excluded.last_seen)`),
    event: db.prepare('INSERT OR IGNORE INTO container_events VALUES (?, ?, ?, ?, ?, ?, ?)'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT OR REPLACE INTO meta VALUES (?, ?)'),
  };
  const allStatements = Object.values(stmts);

  const watermark = (s: Series, t: Tier): number | undefined => {
    const row = stmts.getMeta.get(`wm_${tableOf(s, t)}`) as Record<string, unknown> | null;
    return row ? num(row.value) : undefined;
  };
  const setWatermark = (s: Series, t: Tier, v: number): void => { stmts.setMeta.run([`wm_${tableOf(s, t)}`, v]); };

  /** A late sample below a rollup watermark: lower the mark so the next compact() redoes those buckets. */
  const lowerWatermarks = (s: Series, minTs: number): void => {
    const floor = now() - rawTier.keepMs;
    for (const t of [minuteTier, tenMinuteTier]) {
      const wm = watermark(s, t);
      if (wm !== undefined && minTs < wm) setWatermark(s, t, Math.max(bucketStart(Math.max(minTs, floor), t.resolutionMs), 0));
    }
  };

  const tx = <T>(fn: () => T): T => transaction(db, fn);

  const rowValues = (metrics: readonly MetricDef<string>[], vals: Record<string, number>): Array<number | null> =>
    metrics.map((m) => finiteOrNull(vals[m.key] ?? NaN));

  // Group commit: batches arriving in one turn of the event loop share a transaction and so
  // one WAL sync (synchronous=FULL makes every commit an fsync: one per batch capped the
  // store at the disk's sync rate).
  let pending: Array<{ batch: MetricBatch; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;
  function commitPending(): void {
    scheduled = false;
    const group = pending;
    pending = [];
    if (group.length === 0) return;
    try {
      tx(() => { for (const p of group) writeBatchRows(p.batch); });
      for (const p of group) p.resolve();
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError('UNAVAILABLE', `sqlite: ${(err as Error).message}`, { cause: err });
      for (const p of group) p.reject(e);
    }
  }
  function writeBatchGrouped(batch: MetricBatch): Promise<void> {
    if (!db.isOpen) return Promise.reject(new AppError('UNAVAILABLE', 'sqlite store closed'));
    return new Promise<void>((resolve, reject) => {
      pending.push({ batch, resolve, reject });
      if (!scheduled) { scheduled = true; setImmediate(commitPending); }
    });
  }

  function writeBatchRows(batch: MetricBatch): void {
    {
      let minC = Infinity;
      for (const c of batch.containers) {
        stmts.container.run([c.id, c.timestampMs, ...rowValues(CONTAINER_METRICS, containerValues(c))]);
        stmts.containerMeta.run([c.id, c.name, c.image, batch.hostname, c.timestampMs]);
        if (c.timestampMs < minC) minC = c.timestampMs;
      }
      if (batch.host) {
        stmts.host.run([batch.hostname, batch.host.timestampMs, ...rowValues(HOST_METRICS, hostValues(batch.host))]);
        stmts.hostMeta.run([batch.hostname, batch.agentId, batch.host.timestampMs]);
        lowerWatermarks(HOST, batch.host.timestampMs);
      }
      if (minC !== Infinity) lowerWatermarks(CONTAINER, minC);
      for (const e of batch.events) {
        stmts.event.run([e.containerId, e.timestampMs, e.action, batch.hostname, e.containerName, e.exitCode, e.health]);
      }
    }
  }

  function queryEvents(q: EventQuery): StoredContainerEvent[] {
    // A host by its hostname or its agent's id, as queryHost takes it.
    const byContainer = q.containerId !== undefined;
    const where = [byContainer ? 'container_id = ?' : '(host = ? OR host IN (SELECT host FROM hosts WHERE agent_id = ?))', 'ts >= ?', 'ts <= ?'];
    const args: Array<string | number> = [...(byContainer ? [q.containerId!] : [q.host ?? '', q.host ?? '']), q.fromMs, q.toMs];
    if (q.actions) {
      where.push(`action IN (${q.actions.map(() => '?').join(', ') || 'NULL'})`);
      args.push(...q.actions);
    }
    const rows = db.all(`SELECT * FROM container_events WHERE ${where.join(' AND ')} ORDER BY ts, action LIMIT ?`,
      [...args, q.limit]) as Record<string, unknown>[];
    return rows.map((r) => ({
      host: String(r.host), containerId: String(r.container_id), containerName: String(r.container_name),
      action: String(r.action), timestampMs: num(r.ts), exitCode: num(r.exit_code), health: String(r.health),
    }));
  }

  function rollupSql(s: Series, t: Tier): string {
    const aggs = s.metrics.map((m) => `${m.agg === 'max' ? 'max' : 'avg'}(${m.column})`).join(', ');
    return `INSERT OR REPLACE INTO ${tableOf(s, t)}
      SELECT ${s.key}, (ts / ${t.resolutionMs}) * ${t.resolutionMs} AS b, count(*), ${aggs}
      FROM ${s.raw} WHERE ts >= ? AND ts < ? GROUP BY ${s.key}, b`;
  }

  function compactSync(): void {
    const t0 = now();
    tx(() => {
      for (const s of [CONTAINER, HOST]) {
        for (const t of [minuteTier, tenMinuteTier]) {
          // Finished buckets only, with a grace of one bucket for slightly late agents.
          const upTo = bucketStart(t0 - t.resolutionMs, t.resolutionMs);
          let wm = watermark(s, t);
          if (wm === undefined) {
            const first = db.get(`SELECT min(ts) AS m FROM ${s.raw}`) as Record<string, unknown> | null;
            wm = first && first.m !== null ? bucketStart(num(first.m), t.resolutionMs) : upTo;
          }
          if (upTo > wm) {
            db.run(rollupSql(s, t), [wm, upTo]);
            wm = upTo;
          }
          setWatermark(s, t, wm);
        }
        for (const t of tiers) db.run(`DELETE FROM ${tableOf(s, t)} WHERE ts < ?`, [t0 - t.keepMs]);
      }
      db.run('DELETE FROM alerts WHERE ts < ?', [t0 - tenMinuteTier.keepMs]);
      db.run('DELETE FROM container_events WHERE ts < ?', [t0 - tenMinuteTier.keepMs]);
      db.run('DELETE FROM containers WHERE last_seen < ?', [t0 - tenMinuteTier.keepMs]);
    });
  }

  function querySeries(s: Series, key: string, fromMs: number, toMs: number, stepMs: number): SeriesPoint[] {
    const tier = chooseTier(tiers, fromMs, stepMs, now());
    const step = Math.max(1, Math.round(stepMs));
    const cols = s.metrics.map((m) => m.column).join(', ');
    let rows: Record<string, unknown>[];
    if (tier.name === 'raw') {
      const aggs = s.metrics.map((m) => `${m.agg === 'max' ? 'max' : 'avg'}(${m.column}) AS ${m.column}`).join(', ');
      rows = db.all(`SELECT (ts / ${step}) * ${step} AS b, ${aggs} FROM ${s.raw}
        WHERE ${s.key} = ? AND ts >= ? AND ts <= ? GROUP BY b ORDER BY b`, [key, fromMs, toMs]) as Record<string, unknown>[];
    } else {
      // Rollup rows below the watermark, raw rows above it; weighted by each row's sample count.
      const wm = watermark(s, tier) ?? fromMs;
      const aggs = s.metrics.map((m) => (m.agg === 'max'
        ? `max(${m.column}) AS ${m.column}`
        : `sum(${m.column} * n) / sum(CASE WHEN ${m.column} IS NULL THEN NULL ELSE n END) AS ${m.column}`)).join(', ');
      rows = db.all(`SELECT (ts / ${step}) * ${step} AS b, ${aggs} FROM (
          SELECT ts, n, ${cols} FROM ${tableOf(s, tier)} WHERE ${s.key} = ? AND ts >= ? AND ts <= ? AND ts < ?
          UNION ALL
          SELECT ts, 1 AS n, ${cols} FROM ${s.raw} WHERE ${s.key} = ? AND ts >= ? AND ts <= ?
        ) GROUP BY b ORDER BY b`,
      [key, bucketStart(fromMs, tier.resolutionMs), toMs, wm, key, Math.max(fromMs, wm), toMs]) as Record<string, unknown>[];
    }
    return rows.map((r) => {
      const values: Record<string, number | null> = {};
      for (const m of s.metrics) {
        const v = r[m.column];
        values[m.key] = v === null || v === undefined ? null : num(v);
      }
      return { timestampMs: num(r.b), values };
    });
  }

  // ---------- ledger ----------
  const marks = new Map<string, number>();
  for (const r of db.all('SELECT agent_id, seq FROM ledger') as Record<string, unknown>[]) marks.set(String(r.agent_id), num(r.seq));
  const dirty = new Set<string>();
  const flushLedger = (): void => {
    if (dirty.size === 0 || !db.isOpen) return;
    tx(() => { for (const a of dirty) db.run('INSERT OR REPLACE INTO ledger VALUES (?, ?)', [a, marks.get(a)!]); });
    dirty.clear();
  };
  const ledgerTimer = setInterval(() => { try { flushLedger(); } catch (err) { opts.log?.warn({ err }, 'ledger flush failed'); } }, 1000);
  ledgerTimer.unref();

  const compactEvery = opts.compactEveryMs ?? 60_000;
  const compactTimer = compactEvery > 0 ? setInterval(() => {
    try { compactSync(); } catch (err) { opts.log?.error({ err }, 'sqlite compaction failed'); }
  }, compactEvery) : undefined;
  compactTimer?.unref();

  const wrap = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (err instanceof AppError) return Promise.reject(err);
      return Promise.reject(new AppError('UNAVAILABLE', `sqlite: ${(err as Error).message}`, { cause: err }));
    }
  };

  return {
    file,
    writeBatch: writeBatchGrouped,
    queryContainer: (q: ContainerRangeQuery) => wrap(() => querySeries(CONTAINER, q.containerId, q.fromMs, q.toMs, q.stepMs)),
    queryHost: (q: HostRangeQuery) => wrap(() => {
      const row = db.get('SELECT host FROM hosts WHERE host = ? OR agent_id = ? LIMIT 1', [q.hostId, q.hostId]) as Record<string, unknown> | null;
      return querySeries(HOST, row ? String(row.host) : q.hostId, q.fromMs, q.toMs, q.stepMs);
    }),
    latestContainer: (id) => wrap((): LatestPoint | null => {
      const r = db.get(`SELECT * FROM ${CONTAINER.raw} WHERE container_id = ? ORDER BY ts DESC LIMIT 1`, [id]) as Record<string, unknown> | null;
      if (!r) return null;
      const values: Record<string, number> = {};
      for (const m of CONTAINER_METRICS) if (r[m.column] !== null) values[m.key] = num(r[m.column]);
      return { timestampMs: num(r.ts), values };
    }),
    hasContainer: (id) => wrap(() => db.get('SELECT 1 AS x FROM containers WHERE id = ?', [id]) !== null),
    hasHost: (id) => wrap(() => db.get('SELECT 1 AS x FROM hosts WHERE host = ? OR agent_id = ?', [id, id]) !== null),
    queryEvents: (q: EventQuery) => wrap(() => queryEvents(q)),
    writeAlertEvent: (evt: AlertEvent) => wrap(() => {
      db.run('INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)', [evt.id, evt.state, evt.timestampMs, JSON.stringify(evt)]);
    }),
    queryAlerts: (q: AlertQuery) => wrap(() => {
      const rows = db.all(`SELECT body FROM alerts WHERE ts >= ? AND ts <= ? ${q.state ? 'AND state = ?' : ''}
        ORDER BY ts DESC LIMIT ?`, [q.fromMs, q.toMs, ...(q.state ? [q.state] : []), q.limit ?? 1000]) as Record<string, unknown>[];
      return rows.map((r) => JSON.parse(String(r.body)) as AlertEvent);
    }),
    health: () => wrap((): StoreHealth => {
      let sizeBytes = 0;
      for (const f of [file, `${file}-wal`]) { try { sizeBytes += fs.statSync(f).size; } catch { /* no wal yet */ } }
      return { backend: 'sqlite', ok: db.isOpen, file, journalMode: mode, sizeBytes };
    }),
    compact: compactSync,
    ledger: () => ({
      lastAcked: (agentId) => marks.get(agentId),
      record(agentId, sequence) {
        const prev = marks.get(agentId);
        if (prev === undefined || sequence > prev) { marks.set(agentId, sequence); dirty.add(agentId); }
      },
    }),
    async close() {
      clearInterval(ledgerTimer);
      if (compactTimer) clearInterval(compactTimer);
      if (!db.isOpen) return;
      commitPending();
      flushLedger();
      for (const st of allStatements) if (!st.isFinalized) st.finalize();
      opened.close();
    },
  };
}
