// The control store of a single server: silences, acknowledgements, autoheal bookkeeping,
// the audit trail and small named values in one SQLite file under DATA_DIR. Its own file
// (control.db), not the metrics database: it is used whatever the metrics backend is, also
// with InfluxDB. Opened like the metrics store (open.ts: WAL, EXCLUSIVE, synchronous=FULL),
// and every write is one statement or one transaction run synchronously before the promise
// resolves, so a resolved write is on disk.
import fs from 'node:fs';
import path from 'node:path';
import type { Statement } from 'node-sqlite3-wasm';
import type { Acknowledgement, AuditEvent, AuditOutcome, AutohealAttempt, Silence } from '../../domain/control.js';
import type { AuditQuery, ContainerKey, ControlStore } from '../../application/control-ports.js';
import type { Logger } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import { openDatabase, transaction } from './open.js';

export interface SqliteControlStoreOptions {
  /** Directory for the database file (DATA_DIR). */
  dataDir: string;
  fileName?: string;
  log?: Logger;
  /** Injectable clock for the pruning of old attempts and acknowledgements. */
  now?: () => number;
}

export interface SqliteControlStore extends ControlStore {
  readonly file: string;
}

/** Autoheal looks back an hour; a day of attempts is plenty. */
export const AUTOHEAL_KEEP_MS = 86_400_000;
/** An acknowledgement outlives any sane alert; without a bound the table grows with every alert ever acked. */
export const ACK_KEEP_MS = 30 * 86_400_000;

type Row = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN);

const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, ends_at INTEGER NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL)',
  'CREATE INDEX IF NOT EXISTS silences_ends_at ON silences (ends_at)',
  'CREATE TABLE IF NOT EXISTS acks (alert_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, doc TEXT NOT NULL)',
  'CREATE INDEX IF NOT EXISTS acks_at ON acks (at_ms)',
  // AUTOINCREMENT: rowids are never reused, so seq is the append order forever. Listing is newest
  // appended first, as from the Redis stream (an event recorded late lists above newer-dated ones).
  `CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, details TEXT NOT NULL)`,
  'CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms)',
  `CREATE TABLE IF NOT EXISTS autoheal_attempts (host TEXT NOT NULL, container_id TEXT NOT NULL, command_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (host, container_id, command_id)) WITHOUT ROWID`,
  'CREATE INDEX IF NOT EXISTS autoheal_attempts_at ON autoheal_attempts (at_ms)',
  `CREATE TABLE IF NOT EXISTS gave_up (host TEXT NOT NULL, container_id TEXT NOT NULL, at_ms INTEGER NOT NULL,
    PRIMARY KEY (host, container_id)) WITHOUT ROWID`,
  'CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
].join(';\n');

export function createSqliteControlStore(opts: SqliteControlStoreOptions): SqliteControlStore {
  const now = opts.now ?? Date.now;
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const file = path.resolve(opts.dataDir, opts.fileName ?? 'control.db');
  const opened = openDatabase(file);
  const { db } = opened;
  let stmts: ReturnType<typeof prepare>;
  try {
    db.exec(SCHEMA);
    stmts = prepare();
  } catch (err) {
    opened.close();
    throw new AppError('UNAVAILABLE', `sqlite: ${(err as Error).message}`, { field: 'DATA_DIR', cause: err });
  }
  if (opened.journalMode !== 'wal') opts.log?.warn({ file, journalMode: opened.journalMode }, 'control store is not in WAL mode');

  function prepare() {
    const p = (sql: string): Statement => db.prepare(sql);
    return {
      putSilence: p('INSERT OR REPLACE INTO silences (id, ends_at, created_at, doc) VALUES (?, ?, ?, ?)'),
      getSilence: p('SELECT doc FROM silences WHERE id = ?'),
      listSilences: p('SELECT doc FROM silences WHERE ends_at > ? ORDER BY created_at DESC, id ASC'),
      insertAck: p('INSERT INTO acks (alert_id, at_ms, doc) VALUES (?, ?, ?) ON CONFLICT (alert_id) DO NOTHING'),
      getAck: p('SELECT doc FROM acks WHERE alert_id = ?'),
      pruneAcks: p('DELETE FROM acks WHERE at_ms < ?'),
      appendAudit: p('INSERT INTO audit (id, at_ms, actor, action, target, outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      putAttempt: p('INSERT OR REPLACE INTO autoheal_attempts (host, container_id, command_id, at_ms, doc) VALUES (?, ?, ?, ?, ?)'),
      pruneAttempts: p('DELETE FROM autoheal_attempts WHERE at_ms < ?'),
      attempts: p('SELECT doc FROM autoheal_attempts WHERE host = ? AND container_id = ? ORDER BY at_ms ASC, command_id ASC'),
      hostTimes: p('SELECT at_ms FROM autoheal_attempts WHERE host = ? AND at_ms >= ? ORDER BY at_ms ASC'),
      getGaveUp: p('SELECT at_ms FROM gave_up WHERE host = ? AND container_id = ?'),
      setGaveUp: p('INSERT OR REPLACE INTO gave_up (host, container_id, at_ms) VALUES (?, ?, ?)'),
      clearGaveUp: p('DELETE FROM gave_up WHERE host = ? AND container_id = ?'),
      getValue: p('SELECT value FROM kv WHERE key = ?'),
      setValue: p('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)'),
    };
  }

  const tx = <T>(fn: () => T): T => transaction(db, fn);

  const wrap = <T>(fn: () => T): Promise<T> => {
    if (!db.isOpen) return Promise.reject(new AppError('UNAVAILABLE', 'sqlite control store closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (err instanceof AppError) return Promise.reject(err);
      return Promise.reject(new AppError('UNAVAILABLE', `sqlite: ${(err as Error).message}`, { cause: err }));
    }
  };

  const docs = <T>(rows: unknown[]): T[] => (rows as Row[]).map((r) => JSON.parse(String(r.doc)) as T);
  const doc = <T>(row: unknown): T | null => (row ? JSON.parse(String((row as Row).doc)) as T : null);

  function listAuditSync(q: AuditQuery): AuditEvent[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.fromMs !== undefined) { where.push('at_ms >= ?'); args.push(q.fromMs); }
    if (q.toMs !== undefined) { where.push('at_ms <= ?'); args.push(q.toMs); }
    // substr/length rather than LIKE: LIKE is case-insensitive and treats % and _ as wildcards.
    if (q.action) { where.push('substr(action, 1, length(?)) = ?'); args.push(q.action, q.action); }
    if (q.actor !== undefined) { where.push('actor = ?'); args.push(q.actor); }
    args.push(Math.max(0, Math.floor(q.limit)));
    const rows = db.all(`SELECT id, at_ms, actor, action, target, outcome, details FROM audit
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`, args) as Row[];
    return rows.map((r) => ({
      id: String(r.id), atMs: num(r.at_ms), actor: String(r.actor), action: String(r.action), target: String(r.target),
      outcome: String(r.outcome) as AuditOutcome, details: JSON.parse(String(r.details)) as Record<string, unknown>,
    }));
  }

  return {
    file,
    putSilence: (s: Silence) => wrap(() => { stmts.putSilence.run([s.id, s.endsAtMs, s.createdAtMs, JSON.stringify(s)]); }),
    getSilence: (id) => wrap(() => doc<Silence>(stmts.getSilence.get([id]))),
    listSilences: (sinceMs) => wrap(() => docs<Silence>(stmts.listSilences.all([sinceMs]))),

    acknowledge: (ack: Acknowledgement) => wrap(() => tx(() => {
      stmts.pruneAcks.run([now() - ACK_KEEP_MS]);
      stmts.insertAck.run([ack.alertId, ack.atMs, JSON.stringify(ack)]);
      return doc<Acknowledgement>(stmts.getAck.get([ack.alertId])) ?? ack;
    })),
    getAcks: (alertIds) => wrap(() => {
      const out = new Map<string, Acknowledgement>();
      for (const id of new Set(alertIds)) {
        const a = doc<Acknowledgement>(stmts.getAck.get([id]));
        if (a) out.set(id, a);
      }
      return out;
    }),

    appendAudit: (e: AuditEvent) => wrap(() => {
      stmts.appendAudit.run([e.id, e.atMs, e.actor, e.action, e.target, e.outcome, JSON.stringify(e.details ?? {})]);
    }),
    listAudit: (q) => wrap(() => listAuditSync(q)),

    autohealAttempts: (c: ContainerKey) => wrap(() => docs<AutohealAttempt>(stmts.attempts.all([c.host, c.containerId]))),
    putAutohealAttempt: (c, a) => wrap(() => tx(() => {
      stmts.putAttempt.run([c.host, c.containerId, a.commandId, a.atMs, JSON.stringify(a)]);
      stmts.pruneAttempts.run([now() - AUTOHEAL_KEEP_MS]);
    })),
    hostAutohealTimes: (host, sinceMs) => wrap(() => (stmts.hostTimes.all([host, sinceMs]) as Row[]).map((r) => num(r.at_ms))),
    getGaveUp: (c) => wrap(() => {
      const r = stmts.getGaveUp.get([c.host, c.containerId]) as Row | null;
      return r ? num(r.at_ms) : null;
    }),
    setGaveUp: (c, atMs) => wrap(() => {
      if (atMs === null) stmts.clearGaveUp.run([c.host, c.containerId]);
      else stmts.setGaveUp.run([c.host, c.containerId, atMs]);
    }),

    getValue: (key) => wrap(() => {
      const r = stmts.getValue.get([key]) as Row | null;
      return r ? String(r.value) : null;
    }),
    setValue: (key, value) => wrap(() => { stmts.setValue.run([key, value]); }),

    async close() {
      if (!db.isOpen) return;
      for (const st of Object.values(stmts)) if (!st.isFinalized) st.finalize();
      opened.close();
    },
  };
}
