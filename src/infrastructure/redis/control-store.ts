// The control store shared by replicas (REDIS_URL): every replica sees the same silences,
// acknowledgements, autoheal history and audit trail. Keys under one prefix (default
// "dockwatch:"):
//   <p>silences                  hash  id -> Silence JSON (hundreds at most: listed and filtered in JS)
//   <p>acks, <p>acks-at          hash  alertId -> Acknowledgement JSON (HSETNX: the first ack wins
//                                across replicas); zset alertId by atMs, to prune acks past 30 days
//   <p>audit                     stream, one entry per event (fields id, at, actor, action, target,
//                                outcome, details), ids from atMs, MAXLEN ~ 1,000,000
//   <p>autoheal:<host>:<cid>     hash  commandId -> AutohealAttempt JSON, PEXPIRE a day on every write
//   <p>autoheal-host:<host>      zset  commandId by atMs, for the per-host rate limit
//   <p>autoheal-gaveup           hash  <host>:<cid> -> atMs
//   <p>kv                        hash  key -> value
// The connection belongs to the composition root: close() leaves it open.
import type { Redis } from 'ioredis';
import type { Acknowledgement, AuditEvent, AuditOutcome, AutohealAttempt, Silence } from '../../domain/control.js';
import type { AuditQuery, ContainerKey, ControlStore } from '../../application/control-ports.js';
import { AppError } from '../../application/errors.js';

export interface RedisControlStoreOptions {
  keyPrefix?: string;
  /** Injectable clock for the pruning of old attempts and acknowledgements. */
  now?: () => number;
}

const AUTOHEAL_KEEP_MS = 86_400_000;
const ACK_KEEP_MS = 30 * 86_400_000;
const AUDIT_MAXLEN = 1_000_000;
/**
 * Audit stream ids are `<atMs>-<seq>` when atMs is not behind the stream's newest entry, else
 * Redis's own `*` (its clock, never below the newest): so an id is never below its event's
 * atMs, and fromMs bounds the id range exactly. An id can be above atMs (an event appended
 * late or behind another replica's clock), so toMs bounds it only widened by this much; an
 * event appended more than this after its atMs, behind newer ones, is missed by a query
 * with toMs (it still lists without one).
 */
const AUDIT_ID_SLACK_MS = 3_600_000;
const AUDIT_PAGE = 500;

type StreamEntry = [id: string, fields: string[]];

const fail = (err: unknown): AppError => (err instanceof AppError
  ? err
  : new AppError('UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err }));

/** The [err, value] pairs of an ioredis MULTI/pipeline: the first error fails the whole call. */
function results(r: Array<[Error | null, unknown]> | null): unknown[] {
  if (!r) throw new Error('transaction aborted');
  return r.map(([err, v]) => { if (err) throw err; return v; });
}

function fieldsToEvent(fields: string[]): AuditEvent | null {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const atMs = Number(f.get('at'));
  if (!f.has('id') || !Number.isFinite(atMs)) return null;
  let details: Record<string, unknown> = {};
  try { details = JSON.parse(f.get('details') ?? '{}') as Record<string, unknown>; } catch { /* keep the event, lose the detail */ }
  return {
    id: f.get('id')!, atMs, actor: f.get('actor') ?? '', action: f.get('action') ?? '', target: f.get('target') ?? '',
    outcome: (f.get('outcome') ?? 'ok') as AuditOutcome, details,
  };
}

export function createRedisControlStore(redis: Redis, opts: RedisControlStoreOptions = {}): ControlStore {
  const p = opts.keyPrefix ?? 'dockwatch:';
  const now = opts.now ?? Date.now;
  const keys = {
    silences: `${p}silences`,
    acks: `${p}acks`,
    acksAt: `${p}acks-at`,
    audit: `${p}audit`,
    attempts: (c: ContainerKey) => `${p}autoheal:${c.host}:${c.containerId}`,
    hostTimes: (host: string) => `${p}autoheal-host:${host}`,
    gaveUp: `${p}autoheal-gaveup`,
    kv: `${p}kv`,
  };
  const gaveUpField = (c: ContainerKey): string => `${c.host}:${c.containerId}`;
  let closed = false;

  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new AppError('UNAVAILABLE', 'redis control store closed');
    try {
      return await fn();
    } catch (err) {
      throw fail(err);
    }
  };

  async function pruneAcks(): Promise<void> {
    const cutoff = now() - ACK_KEEP_MS;
    const old = await redis.zrangebyscore(keys.acksAt, '-inf', `(${cutoff}`);
    if (old.length === 0) return;
    results(await redis.multi().hdel(keys.acks, ...old).zrem(keys.acksAt, ...old).exec());
  }

  async function acknowledge(ack: Acknowledgement): Promise<Acknowledgement> {
    await pruneAcks();
    const json = JSON.stringify(ack);
    // Two tries: a prune on another replica may delete the winner between HSETNX and HGET.
    for (let i = 0; i < 2; i++) {
      const [won] = results(await redis.multi()
        .hsetnx(keys.acks, ack.alertId, json)
        .zadd(keys.acksAt, 'NX', ack.atMs, ack.alertId)
        .exec());
      if (Number(won) === 1) return ack;
      const got = await redis.hget(keys.acks, ack.alertId);
      if (got !== null) return JSON.parse(got) as Acknowledgement;
    }
    return ack;
  }

  async function listAudit(q: AuditQuery): Promise<AuditEvent[]> {
    const limit = Math.max(0, Math.floor(q.limit));
    const out: AuditEvent[] = [];
    if (limit === 0) return out;
    const from = q.fromMs === undefined ? '-' : String(Math.max(0, Math.floor(q.fromMs)));
    let end = q.toMs === undefined ? '+' : String(Math.max(0, Math.ceil(q.toMs + AUDIT_ID_SLACK_MS)));
    // Newest first by stream id (the append order); filters that the id range cannot express
    // are applied here, page by page, until the limit is reached or the range is exhausted.
    for (;;) {
      const page = await redis.xrevrange(keys.audit, end, from, 'COUNT', AUDIT_PAGE) as StreamEntry[];
      for (const [, fields] of page) {
        const e = fieldsToEvent(fields);
        if (!e) continue;
        if (q.fromMs !== undefined && e.atMs < q.fromMs) continue;
        if (q.toMs !== undefined && e.atMs > q.toMs) continue;
        if (q.action && !e.action.startsWith(q.action)) continue;
        if (q.actor !== undefined && e.actor !== q.actor) continue;
        out.push(e);
        if (out.length >= limit) return out;
      }
      if (page.length < AUDIT_PAGE) return out;
      end = `(${page[page.length - 1]![0]}`;
    }
  }

  async function putAutohealAttempt(c: ContainerKey, a: AutohealAttempt): Promise<void> {
    const cutoff = now() - AUTOHEAL_KEEP_MS;
    const key = keys.attempts(c);
    const hostKey = keys.hostTimes(c.host);
    const r = results(await redis.multi()
      .hset(key, a.commandId, JSON.stringify(a))
      .pexpire(key, AUTOHEAL_KEEP_MS)
      .zadd(hostKey, a.atMs, a.commandId)
      .zremrangebyscore(hostKey, '-inf', `(${cutoff}`)
      .pexpire(hostKey, AUTOHEAL_KEEP_MS)
      .hgetall(key)
      .exec());
    // The key's expiry only goes once a container stays quiet for a day; drop old entries of a busy one here.
    const all = (r[5] ?? {}) as Record<string, string>;
    const old = Object.entries(all).filter(([, v]) => {
      try { return (JSON.parse(v) as AutohealAttempt).atMs < cutoff; } catch { return true; }
    }).map(([k]) => k);
    if (old.length > 0) await redis.hdel(key, ...old);
  }

  return {
    putSilence: (s: Silence) => run(async () => { await redis.hset(keys.silences, s.id, JSON.stringify(s)); }),
    getSilence: (id) => run(async () => {
      const v = await redis.hget(keys.silences, id);
      return v === null ? null : JSON.parse(v) as Silence;
    }),
    listSilences: (sinceMs) => run(async () => {
      const all = (await redis.hvals(keys.silences)).map((v) => JSON.parse(v) as Silence);
      return all.filter((s) => s.endsAtMs > sinceMs)
        .sort((a, b) => (b.createdAtMs - a.createdAtMs) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }),

    acknowledge: (ack) => run(() => acknowledge(ack)),
    getAcks: (alertIds) => run(async () => {
      const out = new Map<string, Acknowledgement>();
      const ids = [...new Set(alertIds)];
      if (ids.length === 0) return out;
      const vals = await redis.hmget(keys.acks, ...ids);
      ids.forEach((id, i) => { const v = vals[i]; if (v) out.set(id, JSON.parse(v) as Acknowledgement); });
      return out;
    }),

    appendAudit: (e: AuditEvent) => run(async () => {
      const fields = ['id', e.id, 'at', String(e.atMs), 'actor', e.actor, 'action', e.action, 'target', e.target,
        'outcome', e.outcome, 'details', JSON.stringify(e.details ?? {})];
      try {
        await redis.xadd(keys.audit, 'MAXLEN', '~', AUDIT_MAXLEN, `${Math.max(0, Math.floor(e.atMs))}-*`, ...fields);
      } catch (err) {
        // Behind the newest entry (appended out of order): Redis picks an id above it.
        if (!/equal or smaller/i.test((err as Error).message)) throw err;
        await redis.xadd(keys.audit, 'MAXLEN', '~', AUDIT_MAXLEN, '*', ...fields);
      }
    }),
    listAudit: (q) => run(() => listAudit(q)),

    autohealAttempts: (c) => run(async () => {
      const all = Object.values(await redis.hgetall(keys.attempts(c))).map((v) => JSON.parse(v) as AutohealAttempt);
      return all.sort((a, b) => (a.atMs - b.atMs) || (a.commandId < b.commandId ? -1 : a.commandId > b.commandId ? 1 : 0));
    }),
    putAutohealAttempt: (c, a) => run(() => putAutohealAttempt(c, a)),
    hostAutohealTimes: (host, sinceMs) => run(async () => {
      const flat = await redis.zrangebyscore(keys.hostTimes(host), sinceMs, '+inf', 'WITHSCORES');
      const times: number[] = [];
      for (let i = 1; i < flat.length; i += 2) times.push(Number(flat[i]));
      return times;
    }),
    getGaveUp: (c) => run(async () => {
      const v = await redis.hget(keys.gaveUp, gaveUpField(c));
      return v === null ? null : Number(v);
    }),
    setGaveUp: (c, atMs) => run(async () => {
      if (atMs === null) await redis.hdel(keys.gaveUp, gaveUpField(c));
      else await redis.hset(keys.gaveUp, gaveUpField(c), String(atMs));
    }),

    getValue: (key) => run(() => redis.hget(keys.kv, key)),
    setValue: (key, value) => run(async () => { await redis.hset(keys.kv, key, value); }),

    async close() { closed = true; },
  };
}
