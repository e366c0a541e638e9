// InfluxDB adapter of the MetricsStore port.
// Writes: line protocol built with the client library. The version comes from /ping's
// X-Influxdb-Version: 1.8+, 2.x and 3.x get @influxdata/influxdb-client's WriteApi
// (/api/v2/write, gzip); older 1.x servers (Debian's 1.6.7) get the same lines on
// /write?db=&precision=ms. Concurrent writeBatch calls are coalesced (group commit, at most
// maxConcurrentWrites requests in flight): the ingest path awaits every batch, and one
// request per batch would cap throughput at InfluxDB's per-request cost (a WAL sync each on
// 1.x). Each caller resolves only when the request holding its lines succeeded.
// Reads: InfluxQL over /query (GROUP BY time(step)); no Flux, which 3.x dropped.
// No retries here: the resilience layer (breaker, retry, spool) wraps this store.
import { InfluxDB } from '@influxdata/influxdb-client';
import type { AlertEvent, MetricsStore, StoreHealth } from '../../application/store-ports.js';
import type { Logger } from '../../application/ports.js';
import type { MetricBatch } from '../../domain/types.js';
import { AppError } from '../../application/errors.js';
import { alertToLine, batchToBuffer } from './points.js';
import { createInfluxHttp, ident, isLegacyVersion } from './http.js';
import { encodedCodec, type EncodedWrite } from './records.js';
import { createCoalescingWriter, createPostBodies } from './writer.js';
import { createStreamRollups } from './rollups.js';
import { createInfluxReads } from './queries.js';
import { createEventReads, withEventLines } from './events.js';

// The adapter's parts: http.ts (errors, InfluxQL, the v1 request), records.ts (encoded writes and
// their spool records), writer.ts (write paths and coalescing), rollups.ts (1-minute rollups from
// the stream and their backfill), queries.ts (reads), events.ts (container events: their lines and
// reads). This file puts them together.
export { httpError, isLegacyVersion } from './http.js';
export { rollupStatement } from './rollups.js';
export type { BackfillKey, EncodedWrite } from './records.js';

export interface InfluxStoreOptions {
  /** INFLUXDB_URL */
  url: string;
  /** INFLUXDB_TOKEN: "Token" auth for 1.8+/2.x/3.x; "user:password" for older 1.x. */
  token?: string;
  /** INFLUXDB_ORG (2.x). */
  org?: string;
  /** INFLUXDB_BUCKET (database on 1.x), default "dockwatch". */
  bucket?: string;
  /** RETENTION_DAYS: the retention of a database/bucket this adapter creates. Default 30. */
  retentionDays?: number;
  /** 'auto' (default) asks /ping; 'v1' forces /write?db=, 'v2' forces /api/v2/write. */
  writeApi?: 'auto' | 'v1' | 'v2';
  /** Wait this long to coalesce concurrent batches into one request; 0 = same tick only. */
  coalesceMs?: number;
  /** HTTP writes in flight at most; later batches queue and go together. Default 4. */
  maxConcurrentWrites?: number;
  /**
   * Lines per HTTP write at most. Default 50,000: InfluxDB 1.x spends far less CPU per point
   * on large requests (it syncs its WAL and snapshots per request), see BENCHMARKS.md §3.
   */
  maxLinesPerWrite?: number;
  /** Bytes per HTTP write at most, default 16 MiB (InfluxDB 1.x refuses bodies over 25 MB by default). */
  maxBytesPerWrite?: number;
  /** Per-request timeout, default 10 s. */
  timeoutMs?: number;
  /**
   * gzip request bodies on the v1 path (the client library gzips on the v2 path). Default:
   * on, except for a loopback URL, where compressing costs CPU and saves nothing.
   */
  gzip?: boolean;
  /** 1-minute rollups on 1.x servers, computed as batches stream in (default on). */
  rollups?: boolean;
  /** How often minutes the stream could not roll up are recomputed from raw points, default 30 s. */
  backfillEveryMs?: number;
  /**
   * How long after its raw points are written a minute waits before it is recomputed, default
   * 60 s: other replicas (or an agent's retries) may still be writing points of that minute.
   */
  backfillGraceMs?: number;
  log?: Logger;
}

export interface InfluxStore extends MetricsStore {
  /** Encode once (also notes the batch's containers and host as known). */
  encodeBatch(batch: MetricBatch): EncodedWrite;
  encodeAlert(evt: AlertEvent): EncodedWrite;
  /** Resolves once InfluxDB took the lines; concurrent calls share requests. */
  writeEncoded(e: EncodedWrite): Promise<void>;
  /** EncodedWrite <-> spool record bytes. */
  encodedCodec: { encode(e: EncodedWrite): Buffer[]; decode(buf: Buffer): EncodedWrite };
  /** Ids written or found by this process, answered from memory (no InfluxDB call). */
  knowsContainer(containerId: string): boolean;
  knowsHost(hostId: string): boolean;
  /** Resolves the server version and ensures the database/bucket exists. Called lazily too. */
  ready(): Promise<{ version: string; writePath: 'v1' | 'v2' }>;
  /**
   * Recompute now every minute waiting for it, and every minute still open in the stream (as if
   * it ended here); the adapter does this on its own every backfillEveryMs, after the grace.
   */
  backfillRollups(): Promise<void>;
}

export function createInfluxStore(opts: InfluxStoreOptions): InfluxStore {
  const base = opts.url.replace(/\/+$/, '');
  const bucket = opts.bucket ?? 'dockwatch';
  const org = opts.org ?? '';
  const token = opts.token ?? '';
  const retentionDays = opts.retentionDays ?? 30;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const useGzip = opts.gzip ?? !/^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|\/|$)/.test(base);
  const log = opts.log;
  const client = new InfluxDB({ url: base, token, timeout: timeoutMs });
  const maxConcurrentWrites = Math.max(1, opts.maxConcurrentWrites ?? 4);
  const http = createInfluxHttp({ base, token, bucket, timeoutMs, maxSockets: maxConcurrentWrites, legacy: opts.writeApi === 'v1' });
  const influxql = http.influxql;

  let info: { version: string; writePath: 'v1' | 'v2' } | undefined;
  let readyPromise: Promise<{ version: string; writePath: 'v1' | 'v2' }> | undefined;
  const knownContainers = new Set<string>();
  const knownHosts = new Set<string>();
  let lastWriteOkMs = 0;
  // How well writes coalesce: InfluxDB's cost per point falls with the lines per request.
  let writeRequests = 0;
  let linesWritten = 0;

  async function ensureDatabase(writePath: 'v1' | 'v2'): Promise<void> {
    if (writePath === 'v1') {
      try {
        await influxql(`CREATE DATABASE ${ident(bucket)} WITH DURATION ${retentionDays}d`, { post: true, db: false });
      } catch (err) {
        // An existing database with another retention policy is fine: we never change it.
        if (err instanceof AppError && /conflict/i.test(err.message)) return;
        if (err instanceof AppError && (err.code === 'PERMISSION_DENIED' || err.code === 'UNAUTHENTICATED'
          || /authoriz|privilege|permission/i.test(err.message))) {
          log?.warn({ bucket }, `cannot create InfluxDB database "${bucket}": the credentials lack the right; create it yourself`);
          return;
        }
        throw err;
      }
      return;
    }
    // v2 servers: create the bucket when the token may; 1.8 and VictoriaMetrics have no bucket API.
    if (!org) return;
    try {
      const orgs = await (await http.request(`/api/v2/orgs?org=${encodeURIComponent(org)}`, { method: 'GET' }, 'influxdb orgs')).json() as { orgs?: Array<{ id: string }> };
      const orgID = orgs.orgs?.[0]?.id;
      if (!orgID) return;
      const found = await (await http.request(`/api/v2/buckets?name=${encodeURIComponent(bucket)}&orgID=${orgID}`, { method: 'GET' }, 'influxdb buckets')).json() as { buckets?: unknown[] };
      if ((found.buckets ?? []).length > 0) return;
      await http.request('/api/v2/buckets', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orgID, name: bucket, retentionRules: [{ type: 'expire', everySeconds: retentionDays * 86_400 }] }),
      }, 'influxdb create bucket');
      log?.info({ bucket, org }, 'created InfluxDB bucket');
    } catch (err) {
      if (err instanceof AppError && (err.code === 'PERMISSION_DENIED' || err.code === 'UNAUTHENTICATED')) {
        log?.warn({ bucket, org }, `cannot create InfluxDB bucket "${bucket}": the token lacks the right (write:buckets); create it yourself`);
        return;
      }
      // No bucket API (1.8 answers 404, VictoriaMetrics 400): nothing to create, writes go on.
      if (err instanceof AppError && (err.code === 'NOT_FOUND' || err.code === 'INVALID_ARGUMENT')) return;
      throw err;
    }
  }

  function ready(): Promise<{ version: string; writePath: 'v1' | 'v2' }> {
    if (info) return Promise.resolve(info);
    readyPromise ??= (async () => {
      const res = await http.request('/ping', { method: 'GET' }, 'influxdb ping');
      const version = res.headers.get('x-influxdb-version') ?? 'unknown';
      const mode = opts.writeApi ?? 'auto';
      const writePath = mode === 'auto' ? (isLegacyVersion(version) ? 'v1' : 'v2') : mode;
      http.legacy = writePath === 'v1';
      await ensureDatabase(writePath);
      info = { version, writePath };
      if (rollupsOn()) await rollups.dropContinuousQueries();
      log?.info({ version, writePath, bucket }, 'influxdb ready');
      return info;
    })().finally(() => { readyPromise = undefined; });
    return readyPromise;
  }

  const rollupsOn = (): boolean => opts.rollups !== false && /^v?1\./.test(info?.version ?? '');
  // Until the version is known, roll up (1.x) rather than lose a minute.
  const aggregating = (): boolean => opts.rollups !== false && (info === undefined || rollupsOn());
  const rollups = createStreamRollups({
    influxql, bucket, log, disabled: opts.rollups === false, rollupsOn, aggregating,
    graceMs: opts.backfillGraceMs ?? 60_000, backfillEveryMs: opts.backfillEveryMs ?? 30_000,
  });
  const epoch = rollups.epoch;

  const writer = createCoalescingWriter({
    post: createPostBodies({ http, client, org, bucket, useGzip, ready, ensureDatabase }),
    maxInFlight: maxConcurrentWrites, maxLines: opts.maxLinesPerWrite ?? 50_000,
    maxBytes: opts.maxBytesPerWrite ?? 16 * 1024 * 1024, coalesceMs: opts.coalesceMs,
    onWritten: (count) => { lastWriteOkMs = Date.now(); writeRequests++; linesWritten += count; },
  });

  // ---------- encoded writes ----------
  // A batch is encoded once; the bytes are what the resilient store spools and what is sent.
  /** The batch's raw lines only, samples and events (also how a record of an older version is re-encoded). */
  function encodeLines(batch: MetricBatch): EncodedWrite {
    const { body, count } = withEventLines(batchToBuffer(batch), batch);
    let minTs = batch.host?.timestampMs ?? Infinity;
    for (const c of batch.containers) {
      if (c.timestampMs < minTs) minTs = c.timestampMs;
      knownContainers.add(c.id);
    }
    if (batch.host) { knownHosts.add(batch.hostname); knownHosts.add(batch.agentId); }
    return { body, count, minTs: Number.isFinite(minTs) ? minTs : 0, rolled: false, epoch: 0 };
  }

  const knowsContainer = (id: string): boolean => knownContainers.has(id);
  const knowsHost = (id: string): boolean => knownHosts.has(id);

  /** Raw lines plus the rollup rows this batch completed, and the minutes to recompute. */
  function encodeBatch(batch: MetricBatch): EncodedWrite {
    const e = encodeLines(batch);
    e.epoch = epoch;
    if (aggregating()) rollups.roll(batch, e);
    return e;
  }

  const encodeAlert = (evt: AlertEvent): EncodedWrite => ({ body: Buffer.from(alertToLine(evt)), count: 1, minTs: 0, rolled: true, epoch });

  async function writeEncoded(e: EncodedWrite): Promise<void> {
    await writer.enqueue(e.body, e.count);
    if (aggregating()) rollups.written(e);
  }

  return {
    ready,
    backfillRollups: () => rollups.backfillRollups(),
    encodeBatch,
    encodeAlert,
    writeEncoded,
    encodedCodec: encodedCodec(encodeLines, encodeAlert),
    writeBatch: (batch) => writeEncoded(encodeBatch(batch)),
    ...createInfluxReads({ ready, influxql: (query) => influxql(query), rollupsOn, knownContainers, knownHosts }),
    queryEvents: createEventReads({ ready, influxql: (query) => influxql(query) }),
    knowsContainer,
    knowsHost,
    writeAlertEvent: (evt: AlertEvent) => writeEncoded(encodeAlert(evt)),
    async health(): Promise<StoreHealth> {
      try {
        const r = await ready();
        const rs = rollups.stats();
        return {
          backend: 'influxdb', ok: true, version: r.version, writePath: r.writePath, bucket, lastWriteOkMs, writeRequests, linesWritten,
          rollupMinutesOpen: rs.open, rollupBackfillsWaiting: rs.waiting,
        };
      } catch (err) {
        return { backend: 'influxdb', ok: false, bucket, error: (err as Error).message, lastWriteOkMs };
      }
    },
    async close() {
      rollups.stop();
      await writer.flush();
      // Open and waiting minutes, within a few seconds: what is left is recomputed by the next
      // start (it redoes the five minutes before it).
      if (rollupsOn()) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([rollups.backfillRollups().catch(() => undefined), new Promise((r) => { timer = setTimeout(r, 5000); })]);
        clearTimeout(timer);
      }
      http.destroy();
    },
  };
}
