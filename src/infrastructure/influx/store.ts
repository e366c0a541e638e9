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
import nodeHttp from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { InfluxDB } from '@influxdata/influxdb-client';
import { CONTAINER_METRICS, HOST_METRICS, type ContainerMetricKey, type HostMetricKey, type MetricDef, type SeriesPoint } from '../../domain/rollup.js';
import type {
  AlertEvent, AlertQuery, ContainerRangeQuery, HostRangeQuery, LatestPoint, MetricsStore, StoreHealth,
} from '../../application/store-ports.js';
import type { Logger } from '../../application/ports.js';
import type { ContainerSample, MetricBatch } from '../../domain/types.js';
import { AppError } from '../../application/errors.js';
import { alertToLine, batchToBuffer, CONTAINER_TAGS, HOST_TAGS, MEASUREMENT, rollupLine } from './points.js';
import { MinuteRollups, ROLLUP_MINUTE_MS, type RollupOutput } from '../../domain/minute-rollup.js';

const gzip = promisify(zlib.gzip);

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

/** A series-minute whose rollup is recomputed from raw points: which measurement, its two identifying tags. */
export interface BackfillKey { m: 'container' | 'host'; host: string; id: string; t: number }

/**
 * Line protocol ready to send: `count` lines (raw points, and 1-minute rollup rows the stream
 * completed); `minTs` the oldest metric timestamp (0 for none). `rolled`: the batch went through
 * this version's rollups (records from older versions did not, and get their range recomputed);
 * `epoch` tells records of this process from those of an earlier run; `backfill`: minutes the
 * stream could not roll up itself, recomputed from raw points once these lines are written.
 */
export interface EncodedWrite { body: Buffer; count: number; minTs: number; rolled: boolean; epoch: number; backfill?: BackfillKey[] }

// An EncodedWrite as a spool record:
//   v2: [u8 2][u32 count][f64 minTs][u32 epoch][u32 n][n bytes: JSON BackfillKey[], or none][line protocol]
//   v1: [u8 1][u32 count][f64 minTs][line protocol]  (before rollups were computed in the stream)
// Records of still earlier versions were JSON ({"kind":"batch"|"alert",...}, first byte "{"):
// they are encoded on read, so a spool left by an older server is still written, not cut as torn.
const RECORD_V1 = 1;
const RECORD_V2 = 2;
function encodedCodec(encodeLines: (b: MetricBatch) => EncodedWrite, encodeAlert: (e: AlertEvent) => EncodedWrite) {
  return {
    encode(e: EncodedWrite): Buffer[] {
      const meta = e.backfill && e.backfill.length > 0 ? Buffer.from(JSON.stringify(e.backfill)) : undefined;
      const head = Buffer.allocUnsafe(21);
      head.writeUInt8(RECORD_V2, 0);
      head.writeUInt32LE(e.count, 1);
      head.writeDoubleLE(e.minTs, 5);
      head.writeUInt32LE(e.epoch, 13);
      head.writeUInt32LE(meta?.length ?? 0, 17);
      return meta ? [head, meta, e.body] : [head, e.body];
    },
    decode(buf: Buffer): EncodedWrite {
      if (buf[0] === RECORD_V2 && buf.length >= 21) {
        const n = buf.readUInt32LE(17);
        const backfill = n > 0 ? JSON.parse(buf.toString('utf8', 21, 21 + n)) as BackfillKey[] : undefined;
        return {
          count: buf.readUInt32LE(1), minTs: buf.readDoubleLE(5), rolled: true, epoch: buf.readUInt32LE(13),
          body: buf.subarray(21 + n), ...(backfill ? { backfill } : {}),
        };
      }
      if (buf[0] === RECORD_V1 && buf.length >= 13) {
        return { count: buf.readUInt32LE(1), minTs: buf.readDoubleLE(5), body: buf.subarray(13), rolled: false, epoch: 0 };
      }
      const legacy = JSON.parse(buf.toString('utf8')) as { kind: 'batch'; batch: MetricBatch } | { kind: 'alert'; evt: AlertEvent };
      if (legacy.kind === 'batch') return encodeLines(legacy.batch);
      if (legacy.kind === 'alert') return encodeAlert(legacy.evt);
      throw new Error('spool record: unknown kind');
    },
  };
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

/** One caller's lines as newline-separated UTF-8 (bytes, not strings: less for the GC to track). */
interface Pending { body: Buffer; count: number; resolve: () => void; reject: (e: unknown) => void }

const NEWLINE = Buffer.from('\n');

/** The bodies as the parts of one newline-separated request body (sent as they are, not joined). */
function bodyParts(bodies: Buffer[]): Buffer[] {
  const parts: Buffer[] = [];
  for (const b of bodies) {
    if (parts.length > 0) parts.push(NEWLINE);
    parts.push(b);
  }
  return parts;
}

const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** "1.6.7" -> true: no /api/v2/write before 1.8. Unknown versions (VictoriaMetrics, proxies) take v2. */
export function isLegacyVersion(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major < 1 || (major === 1 && minor < 8);
}

function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const d = Date.parse(h);
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined;
}

/** One place that turns HTTP outcomes into AppErrors, so retry/breaker decide by code. */
export function httpError(status: number, body: string, retryAfter: string | null, what: string): AppError {
  const msg = `${what}: HTTP ${status} ${body.slice(0, 300)}`.trim();
  const ra = retryAfterMs(retryAfter);
  if (status === 429) return new AppError('RESOURCE_EXHAUSTED', msg, ra === undefined ? {} : { retryAfterMs: ra });
  if (status === 401) return new AppError('UNAUTHENTICATED', `${msg} (check INFLUXDB_TOKEN)`, { field: 'INFLUXDB_TOKEN' });
  if (status === 403) return new AppError('PERMISSION_DENIED', `${msg} (the token lacks the right)`, { field: 'INFLUXDB_TOKEN' });
  if (status === 404) return new AppError('NOT_FOUND', msg);
  if (status >= 500) return new AppError('UNAVAILABLE', msg, ra === undefined ? {} : { retryAfterMs: ra });
  return new AppError('INVALID_ARGUMENT', msg);
}

const networkError = (err: unknown, what: string): AppError =>
  err instanceof AppError ? err : new AppError('UNAVAILABLE', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });

const rollupName = (m: string): string => `${m}_1m`;
const ROLLED = {
  container: { measurement: MEASUREMENT.container, metrics: CONTAINER_METRICS, idTag: 'container_id' },
  host: { measurement: MEASUREMENT.host, metrics: HOST_METRICS, idTag: 'agent_id' },
} as const;
const rollupSelect = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
  ? `max(${ident(m.column)}) AS ${ident(m.column)}`
  : `sum(${ident(m.column)}) AS ${ident(`${m.column}_sum`)}, count(${ident(m.column)}) AS ${ident(`${m.column}_n`)}`)).join(', ');

/** The InfluxQL that recomputes 1-minute rollup rows from raw points over [fromMs, toMs), optionally for some series. */
export function rollupStatement(m: 'container' | 'host', fromMs: number, toMs: number, where?: string): string {
  const r = ROLLED[m];
  return `SELECT ${rollupSelect(r.metrics)} INTO ${ident(rollupName(r.measurement))} FROM ${ident(r.measurement)}
    WHERE ${where ? `(${where}) AND ` : ''}time >= ${fromMs}ms AND time < ${toMs}ms GROUP BY time(1m), *`;
}

export function createInfluxStore(opts: InfluxStoreOptions): InfluxStore {
  const base = opts.url.replace(/\/+$/, '');
  const bucket = opts.bucket ?? 'dockwatch';
  const org = opts.org ?? '';
  const token = opts.token ?? '';
  const retentionDays = opts.retentionDays ?? 30;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxLines = opts.maxLinesPerWrite ?? 50_000;
  const maxBytes = opts.maxBytesPerWrite ?? 16 * 1024 * 1024;
  const useGzip = opts.gzip ?? !/^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|\/|$)/.test(base);
  const log = opts.log;
  const client = new InfluxDB({ url: base, token, timeout: timeoutMs });

  let info: { version: string; writePath: 'v1' | 'v2' } | undefined;
  let readyPromise: Promise<{ version: string; writePath: 'v1' | 'v2' }> | undefined;
  const knownContainers = new Set<string>();
  const knownHosts = new Set<string>();
  let lastWriteOkMs = 0;
  // How well writes coalesce: InfluxDB's cost per point falls with the lines per request.
  let writeRequests = 0;
  let linesWritten = 0;
  let legacy = opts.writeApi === 'v1';
  const inFlight = new Set<Promise<void>>();

  function authHeaders(legacy: boolean): Record<string, string> {
    if (!token) return {};
    if (legacy && token.includes(':')) return { authorization: `Basic ${Buffer.from(token).toString('base64')}` };
    return { authorization: `Token ${token}` };
  }

  async function http(path: string, init: { method: string; body?: Buffer | string; headers?: Record<string, string> }, what: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: init.method, headers: { ...authHeaders(legacy), ...init.headers },
        ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : new Uint8Array(init.body) }), signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw networkError(err, what);
    }
    if (!res.ok) throw httpError(res.status, await res.text().catch(() => ''), res.headers.get('retry-after'), what);
    return res;
  }

  async function influxql(query: string, opts2: { post?: boolean; db?: boolean } = {}): Promise<InfluxQlSeries[]> {
    const params = new URLSearchParams({ q: query, epoch: 'ms' });
    if (opts2.db !== false) params.set('db', bucket);
    const res = await http(`/query?${params.toString()}`, { method: opts2.post ? 'POST' : 'GET' }, 'influxdb query');
    const body = await res.json() as { results?: Array<{ series?: InfluxQlSeries[]; error?: string }>; error?: string };
    const err = body.error ?? body.results?.find((r) => r.error)?.error;
    if (err) {
      if (/database not found/.test(err)) return [];
      throw new AppError('INVALID_ARGUMENT', `influxdb query: ${err}`);
    }
    return body.results?.flatMap((r) => r.series ?? []) ?? [];
  }

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
      const orgs = await (await http(`/api/v2/orgs?org=${encodeURIComponent(org)}`, { method: 'GET' }, 'influxdb orgs')).json() as { orgs?: Array<{ id: string }> };
      const orgID = orgs.orgs?.[0]?.id;
      if (!orgID) return;
      const found = await (await http(`/api/v2/buckets?name=${encodeURIComponent(bucket)}&orgID=${orgID}`, { method: 'GET' }, 'influxdb buckets')).json() as { buckets?: unknown[] };
      if ((found.buckets ?? []).length > 0) return;
      await http('/api/v2/buckets', {
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
      const res = await http('/ping', { method: 'GET' }, 'influxdb ping');
      const version = res.headers.get('x-influxdb-version') ?? 'unknown';
      const mode = opts.writeApi ?? 'auto';
      const writePath = mode === 'auto' ? (isLegacyVersion(version) ? 'v1' : 'v2') : mode;
      legacy = writePath === 'v1';
      await ensureDatabase(writePath);
      info = { version, writePath };
      if (rollupsOn()) await dropContinuousQueries();
      log?.info({ version, writePath, bucket }, 'influxdb ready');
      return info;
    })().finally(() => { readyPromise = undefined; });
    return readyPromise;
  }

  // Writes on the v1 path go through node:http with keep-alive sockets, one per concurrent
  // write: fetch copies a request body once more and costs several times the CPU per request.
  const agentOpts = { keepAlive: true, maxSockets: Math.max(1, opts.maxConcurrentWrites ?? 4) };
  const writeAgent = base.startsWith('https:') ? new https.Agent(agentOpts) : new nodeHttp.Agent(agentOpts);

  function postBody(path: string, parts: Buffer[], headers: Record<string, string>, what: string): Promise<void> {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const url = new URL(`${base}${path}`);
    const mod = url.protocol === 'https:' ? https : nodeHttp;
    return new Promise<void>((resolve, reject) => {
      const req = mod.request(url, {
        method: 'POST', agent: writeAgent, timeout: timeoutMs,
        headers: { ...authHeaders(legacy), ...headers, 'content-length': String(length) },
      }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on('end', resolve);
          res.on('error', (err) => reject(networkError(err, what)));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => { if (chunks.length < 16) chunks.push(c); });
        res.on('end', () => {
          const ra = res.headers['retry-after'];
          reject(httpError(status, Buffer.concat(chunks).toString('utf8'), Array.isArray(ra) ? ra[0] ?? null : ra ?? null, what));
        });
        res.on('error', (err) => reject(networkError(err, what)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(networkError(err, what)));
      // Corked: the parts leave in one gathered write, not one syscall each.
      req.cork();
      for (const p of parts) req.write(p);
      req.end();
    });
  }

  async function postBodies(bodies: Buffer[], count: number): Promise<void> {
    const { writePath } = await ready();
    const what = 'influxdb write';
    if (writePath === 'v2') {
      const api = client.getWriteApi(org, bucket, 'ms', {
        batchSize: bodies.length + 1, flushInterval: 0, maxRetries: 0, maxBufferLines: count + 1,
        // Fail fast into our own retry/breaker/spool instead of the library's retry buffer.
        writeFailed: (err: Error) => Promise.reject(err),
      });
      // A record may hold several lines: the library joins records with newlines.
      api.writeRecords(bodies.map((b) => b.toString('utf8')));
      try {
        await api.close();
      } catch (err) {
        const e = err as { statusCode?: number; body?: string; message?: string; headers?: Record<string, string | string[]> };
        if (typeof e.statusCode === 'number' && e.statusCode > 0) {
          const ra = e.headers?.['retry-after'];
          throw httpError(e.statusCode, e.body ?? e.message ?? '', Array.isArray(ra) ? ra[0] ?? null : ra ?? null, what);
        }
        throw networkError(err, what);
      }
      return;
    }
    const raw = bodyParts(bodies);
    const params = new URLSearchParams({ db: bucket, precision: 'ms' });
    const gz = useGzip && raw.reduce((n, p) => n + p.length, 0) > 1000;
    const body = gz ? [await gzip(Buffer.concat(raw), { level: 1 })] : raw;
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', ...(gz ? { 'content-encoding': 'gzip' } : {}) };
    try {
      await postBody(`/write?${params.toString()}`, body, headers, what);
    } catch (err) {
      // The database vanished (dropped, fresh server): create it again once and resend.
      if (err instanceof AppError && err.code === 'NOT_FOUND') {
        await ensureDatabase('v1');
        try {
          await postBody(`/write?${params.toString()}`, body, headers, what);
        } catch (again) {
          // Still missing: these credentials may not create it. An outage for the breaker, so
          // batches wait in the spool until someone creates the database.
          if (again instanceof AppError && again.code === 'NOT_FOUND') {
            throw new AppError('UNAVAILABLE', `InfluxDB database "${bucket}" does not exist and these credentials cannot create it: create it, or grant the right`, { field: 'INFLUXDB_BUCKET' });
          }
          throw again;
        }
        return;
      }
      throw err;
    }
  }

  // ---------- coalescing (group commit) ----------
  // At most maxConcurrentWrites requests are in flight; batches arriving meanwhile wait and
  // leave together in the next request. Light load: one request per batch, no added delay.
  // Heavy load: large requests, as InfluxDB likes them (1.x syncs its WAL per request).
  const maxInFlight = Math.max(1, opts.maxConcurrentWrites ?? 4);
  let queue: Pending[] = [];
  let scheduled = false;
  let active = 0;

  /** The next request: queued batches up to maxLines lines and maxBytes (at least one batch), and its line count. */
  function takeChunk(): { items: Pending[]; count: number } {
    const items: Pending[] = [];
    let count = 0;
    let bytes = 0;
    while (queue.length > 0 && (count === 0 || (count + queue[0]!.count <= maxLines && bytes + queue[0]!.body.length < maxBytes))) {
      const p = queue.shift()!;
      items.push(p);
      count += p.count;
      bytes += p.body.length + 1;
    }
    return { items, count };
  }

  function pump(): void {
    scheduled = false;
    while (active < maxInFlight && queue.length > 0) {
      const { items, count } = takeChunk();
      active++;
      const done: Promise<void> = postBodies(items.map((p) => p.body), count).then(
        () => { lastWriteOkMs = Date.now(); writeRequests++; linesWritten += count; for (const p of items) p.resolve(); },
        async (err) => {
          // Bad data in one batch must not sink the others that shared the request: send each
          // alone so only the faulty batch is refused (a 1.x partial write kept the good points
          // already; resending them is idempotent).
          if (items.length > 1 && err instanceof AppError && err.code === 'INVALID_ARGUMENT') {
            for (const p of items) await postBodies([p.body], p.count).then(p.resolve, p.reject);
            return;
          }
          for (const p of items) p.reject(err);
        },
      ).finally(() => {
        active--;
        inFlight.delete(done);
        schedule();
      });
      inFlight.add(done);
    }
  }

  function schedule(): void {
    if (scheduled || queue.length === 0) return;
    scheduled = true;
    // setImmediate lets every batch that arrived in this turn of the event loop join.
    if (opts.coalesceMs) setTimeout(pump, opts.coalesceMs); else setImmediate(pump);
  }

  function enqueue(body: Buffer, count: number): Promise<void> {
    if (count === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      queue.push({ body, count, resolve, reject });
      schedule();
    });
  }

  // ---------- reads ----------
  function selectList(metrics: readonly MetricDef<string>[]): string {
    return metrics.map((m) => `${m.agg === 'max' ? 'max' : 'mean'}(${ident(m.column)}) AS ${ident(m.column)}`).join(', ');
  }

  function toPoints(series: InfluxQlSeries[], metrics: readonly MetricDef<string>[]): SeriesPoint[] {
    const s = series[0];
    if (!s) return [];
    const idx = new Map(s.columns.map((c, i) => [c, i]));
    return s.values.map((row) => {
      const values: Record<string, number | null> = {};
      for (const m of metrics) {
        const v = row[idx.get(m.column) ?? -1];
        values[m.key] = typeof v === 'number' ? v : null;
      }
      return { timestampMs: Number(row[0]), values };
    });
  }

  // ---------- 1-minute rollups ----------
  // A 24 h chart over raw 1 s points costs InfluxDB 1.x about 17 ms per field (150 ms for a
  // container's 9 fields here), so steps of whole minutes read `<measurement>_1m`. Its rows are
  // summed from the stream as batches are encoded (domain/minute-rollup.ts) and travel in the
  // same spooled write as the raw points; a minute the stream did not provably see whole is
  // recomputed from raw points with SELECT ... INTO once those are written, after a grace.
  // Earlier versions used a continuous query (RESAMPLE EVERY 1m FOR 10m): it re-read every raw
  // point ten times, 3 to 4.5 times the CPU of writing them (decision 005), so it is dropped.
  // Rollups keep sum and count for gauges (exact weighted means across buckets) and max for
  // counters. The newest RAW_TAIL_MS are always read from raw points.
  const RAW_TAIL_MS = 5 * 60_000;
  const graceMs = opts.backfillGraceMs ?? 60_000;
  /** Quiet this long after its minute ended, an open minute is recomputed from raw points. */
  const IDLE_MS = 60_000;
  const rollupsOn = (): boolean => opts.rollups !== false && /^v?1\./.test(info?.version ?? '');
  // Until the version is known, roll up (1.x) rather than lose a minute.
  const aggregating = (): boolean => opts.rollups !== false && (info === undefined || rollupsOn());
  const rollupRead = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
    ? `max(${ident(m.column)}) AS ${ident(m.column)}`
    : `sum(${ident(`${m.column}_sum`)}) / sum(${ident(`${m.column}_n`)}) AS ${ident(m.column)}`)).join(', ');

  /** Continuous queries an earlier version created: they would redo, at great cost, what the stream does now. */
  async function dropContinuousQueries(): Promise<void> {
    for (const r of Object.values(ROLLED)) {
      await influxql(`DROP CONTINUOUS QUERY ${ident(`dw_${r.measurement}_1m`)} ON ${ident(bucket)}`, { post: true, db: false })
        .then(() => log?.info({ name: `dw_${r.measurement}_1m` }, 'dropped the continuous query of an earlier version: rollups are computed from the stream'))
        .catch(() => undefined); // absent (the usual case) or no right
    }
  }

  const containerRollups = new MinuteRollups<ContainerMetricKey, ContainerSample>(CONTAINER_METRICS);
  const hostRollups = new MinuteRollups<HostMetricKey, string>(HOST_METRICS); // series: the agent id
  const epoch = (Math.floor(Math.random() * 0xffff_fffe) + 1) >>> 0;
  let lastSweepMs = Date.now();

  const outputs = (): { c: RollupOutput<ContainerSample>; h: RollupOutput<string> } =>
    ({ c: { rows: [], uncertain: [] }, h: { rows: [], uncertain: [] } });
  /** The minutes both aggregators could not roll up themselves, as backfill requests. */
  const backfillKeys = (c: RollupOutput<ContainerSample>, h: RollupOutput<string>): BackfillKey[] => [
    ...c.uncertain.map((u) => ({ m: 'container' as const, host: u.group, id: u.series.id, t: u.minuteMs })),
    ...h.uncertain.map((u) => ({ m: 'host' as const, host: u.group, id: u.series, t: u.minuteMs })),
  ];
  function sweep(nowMs: number, c: RollupOutput<ContainerSample>, h: RollupOutput<string>): void {
    containerRollups.sweep(nowMs, IDLE_MS, c);
    hostRollups.sweep(nowMs, IDLE_MS, h);
  }

  /** Rows the stream completed (as lines) and the minutes to recompute, for one batch. */
  function rollUp(batch: MetricBatch, nowMs: number): { lines: string[]; backfill: BackfillKey[] } {
    const { c, h } = outputs();
    // An agent's samples are `intervalMs` apart; half an interval more allows for jitter, and a
    // missed sample (twice the interval) still shows as a gap.
    const gapMs = batch.intervalMs > 0 ? batch.intervalMs * 1.5 : 0;
    for (const x of batch.containers) containerRollups.add(batch.hostname, x.id, x, x.timestampMs, x, gapMs, c);
    if (batch.host) hostRollups.add(batch.hostname, batch.agentId, batch.agentId, batch.host.timestampMs, batch.host, gapMs, h);
    if (nowMs - lastSweepMs >= 5000) {
      lastSweepMs = nowMs;
      sweep(nowMs, c, h);
    }
    const lines: string[] = [];
    for (const r of c.rows) {
      const line = rollupLine(rollupName(MEASUREMENT.container), CONTAINER_TAGS, [r.group, r.series.id, r.series.name, r.series.image], CONTAINER_METRICS, r);
      if (line) lines.push(line);
    }
    for (const r of h.rows) {
      const line = rollupLine(rollupName(MEASUREMENT.host), HOST_TAGS, [r.group, r.series], HOST_METRICS, r);
      if (line) lines.push(line);
    }
    return { lines, backfill: backfillKeys(c, h) };
  }

  // Minutes waiting to be recomputed from raw points: one series' minute, or (records of an
  // earlier version, the minutes around a restart) every series over a range.
  interface Backfill { m: 'container' | 'host'; fromMs: number; toMs: number; series?: { host: string; id: string }; dueMs: number }
  let backfills: Backfill[] = [];
  const queueSeries = (k: BackfillKey, dueMs: number): void => { backfills.push({ m: k.m, fromMs: k.t, toMs: k.t + ROLLUP_MINUTE_MS, series: { host: k.host, id: k.id }, dueMs }); };
  const queueRange = (fromMs: number, toMs: number, dueMs: number): void => {
    const from = Math.floor(fromMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS;
    const to = Math.floor(toMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS + ROLLUP_MINUTE_MS;
    for (const m of ['container', 'host'] as const) {
      // One waiting range per measurement, widened: a spool of old records asks once, not per record.
      const waiting = backfills.find((b) => !b.series && b.m === m);
      if (waiting) Object.assign(waiting, { fromMs: Math.min(waiting.fromMs, from), toMs: Math.max(waiting.toMs, to), dueMs: Math.max(waiting.dueMs, dueMs) });
      else backfills.push({ m, fromMs: from, toMs: to, dueMs });
    }
  };
  // The minutes around this start: an earlier process may have died with minutes open. They
  // are recomputed once this process's own first write landed (every older spooled record,
  // written in order, is in by then) or five minutes after start, whichever comes first.
  const startedMs = Date.now();
  let startupQueued = false;
  function queueStartup(dueMs: number): void {
    if (startupQueued || opts.rollups === false) return;
    startupQueued = true;
    queueRange(startedMs - 5 * ROLLUP_MINUTE_MS, startedMs, dueMs);
  }

  /** The SELECT ... INTO statements for a set of due backfills. */
  function backfillStatements(due: Backfill[]): string[] {
    const out: string[] = [];
    // Measurement and minute -> its series (host and id), each once.
    const perMinute = new Map<string, Map<string, Backfill>>();
    for (const b of due) {
      if (!b.series) {
        for (let t = b.fromMs; t < b.toMs; t += 10 * ROLLUP_MINUTE_MS) out.push(rollupStatement(b.m, t, Math.min(b.toMs, t + 10 * ROLLUP_MINUTE_MS)));
        continue;
      }
      const key = `${b.m} ${b.fromMs}`;
      const series = perMinute.get(key) ?? new Map<string, Backfill>();
      const id = `${b.series.host}\n${b.series.id}`;
      if (!series.has(id)) series.set(id, b);
      perMinute.set(key, series);
    }
    for (const series of perMinute.values()) {
      const list = [...series.values()];
      const { m, fromMs, toMs } = list[0]!;
      // Past a few dozen series one pass over the whole minute is cheaper than the conditions.
      if (list.length > 50) { out.push(rollupStatement(m, fromMs, toMs)); continue; }
      const r = ROLLED[m];
      const which = list.map((b) => `(${ident('host')} = ${q(b.series!.host)} AND ${ident(r.idTag)} = ${q(b.series!.id)})`).join(' OR ');
      out.push(rollupStatement(m, fromMs, toMs, which));
    }
    return out;
  }

  let backfilling: Promise<void> | undefined;
  /** Recomputes the due minutes (all of them with `all`); what fails stays queued for the next round. */
  function runBackfills(all: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (!rollupsOn()) return;
      const now = Date.now();
      const due = backfills.filter((b) => all || b.dueMs <= now);
      if (due.length === 0) return;
      const taken = new Set(due);
      backfills = backfills.filter((b) => !taken.has(b));
      const statements = backfillStatements(due);
      for (let i = 0; i < statements.length; i++) {
        try {
          await influxql(statements[i]!, { post: true });
        } catch (err) {
          backfills.push(...due); // recomputing is idempotent: simply try them all again
          throw err;
        }
      }
    };
    // One round at a time; the caller gets this round's outcome, the chain never rejects.
    const p = (backfilling ?? Promise.resolve()).then(run);
    const settled: Promise<void> = p.catch(() => undefined).finally(() => { if (backfilling === settled) backfilling = undefined; });
    backfilling = settled;
    return p;
  }

  async function backfillRollups(): Promise<void> {
    const { c, h } = outputs();
    containerRollups.drainAll(c);
    hostRollups.drainAll(h);
    for (const k of backfillKeys(c, h)) queueSeries(k, 0);
    await runBackfills(true);
  }
  const backfillTimer = setInterval(() => {
    // A stream gone quiet leaves minutes open with no batch to carry them: queue them here.
    const now = Date.now();
    if (now - lastEncodeMs > IDLE_MS) {
      const { c, h } = outputs();
      sweep(now, c, h);
      for (const k of backfillKeys(c, h)) queueSeries(k, now + graceMs);
    }
    if (now - startedMs > 5 * ROLLUP_MINUTE_MS) queueStartup(now + graceMs);
    runBackfills(false).catch((err) => { log?.warn({ reason: (err as Error).message }, 'rollup backfill failed; will retry'); });
  }, opts.backfillEveryMs ?? 30_000);
  backfillTimer.unref();

  async function rangeQuery(measurement: string, where: string, metrics: readonly MetricDef<string>[], fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    await ready();
    const step = Math.max(1, Math.round(stepMs));
    const raw = async (from: number, to: number): Promise<SeriesPoint[]> => toPoints(await influxql(`SELECT ${selectList(metrics)}
      FROM ${ident(measurement)} WHERE ${where} AND time >= ${Math.floor(from)}ms AND time <= ${Math.floor(to)}ms
      GROUP BY time(${step}ms) fill(none)`), metrics);
    const split = Math.floor((Date.now() - RAW_TAIL_MS) / step) * step;
    if (!rollupsOn() || step % ROLLUP_MINUTE_MS !== 0 || fromMs >= split) return raw(fromMs, toMs);
    const rolledTo = Math.min(split, toMs + 1);
    const [older, newer] = await Promise.all([
      influxql(`SELECT ${rollupRead(metrics)} FROM ${ident(rollupName(measurement))} WHERE ${where}
        AND time >= ${Math.floor(fromMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS}ms AND time < ${Math.floor(rolledTo)}ms
        GROUP BY time(${step}ms) fill(none)`).then((sr) => toPoints(sr, metrics)),
      toMs >= split ? raw(split, toMs) : Promise.resolve([]),
    ]);
    return [...older, ...newer];
  }

  // ---------- encoded writes ----------
  // A batch is encoded once; the bytes are what the resilient store spools and what is sent.
  /** The batch's raw lines only (also how a record of an older version is re-encoded). */
  function encodeLines(batch: MetricBatch): EncodedWrite {
    const { body, count } = batchToBuffer(batch);
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

  let lastEncodeMs = Date.now();
  /** Raw lines plus the rollup rows this batch completed, and the minutes to recompute. */
  function encodeBatch(batch: MetricBatch): EncodedWrite {
    const e = encodeLines(batch);
    e.epoch = epoch;
    if (!aggregating()) return e;
    lastEncodeMs = Date.now();
    e.rolled = true;
    const { lines, backfill } = rollUp(batch, lastEncodeMs);
    if (lines.length > 0) {
      e.body = Buffer.concat([e.body, Buffer.from(`${e.count > 0 ? '\n' : ''}${lines.join('\n')}`)]);
      e.count += lines.length;
    }
    if (backfill.length > 0) e.backfill = backfill;
    return e;
  }

  const encodeAlert = (evt: AlertEvent): EncodedWrite => ({ body: Buffer.from(alertToLine(evt)), count: 1, minTs: 0, rolled: true, epoch });

  async function writeEncoded(e: EncodedWrite): Promise<void> {
    await enqueue(e.body, e.count);
    if (!aggregating()) return;
    const due = Date.now() + graceMs;
    // A record of an older version carries no rollups: recompute the minutes it touched.
    if (!e.rolled && e.minTs > 0) queueRange(e.minTs, Date.now(), due);
    if (e.epoch === epoch) queueStartup(due);
    for (const k of e.backfill ?? []) queueSeries(k, due);
  }

  async function hostWhere(hostId: string): Promise<string> {
    // The id may be the hostname or the agent id.
    return `(${ident('host')} = ${q(hostId)} OR ${ident('agent_id')} = ${q(hostId)})`;
  }

  return {
    ready,
    backfillRollups,
    encodeBatch,
    encodeAlert,
    writeEncoded,
    encodedCodec: encodedCodec(encodeLines, encodeAlert),
    writeBatch: (batch) => writeEncoded(encodeBatch(batch)),
    queryContainer: (r: ContainerRangeQuery) =>
      rangeQuery(MEASUREMENT.container, `${ident('container_id')} = ${q(r.containerId)}`, CONTAINER_METRICS, r.fromMs, r.toMs, r.stepMs),
    queryHost: async (r: HostRangeQuery) =>
      rangeQuery(MEASUREMENT.host, await hostWhere(r.hostId), HOST_METRICS, r.fromMs, r.toMs, r.stepMs),
    async latestContainer(id): Promise<LatestPoint | null> {
      await ready();
      const series = await influxql(`SELECT * FROM ${ident(MEASUREMENT.container)} WHERE ${ident('container_id')} = ${q(id)} ORDER BY time DESC LIMIT 1`);
      const s = series[0];
      const row = s?.values[0];
      if (!s || !row) return null;
      const values: Record<string, number> = {};
      s.columns.forEach((c, i) => {
        const m = CONTAINER_METRICS.find((x) => x.column === c);
        if (m && typeof row[i] === 'number') values[m.key] = row[i] as number;
      });
      return { timestampMs: Number(row[0]), values };
    },
    knowsContainer,
    knowsHost,
    async hasContainer(id) {
      if (knowsContainer(id)) return true;
      await ready();
      const series = await influxql(`SHOW TAG VALUES FROM ${ident(MEASUREMENT.container)} WITH KEY = ${ident('container_id')} WHERE ${ident('container_id')} = ${q(id)}`);
      const found = series.some((s) => s.values.length > 0);
      if (found) knownContainers.add(id);
      return found;
    },
    async hasHost(id) {
      if (knowsHost(id)) return true;
      await ready();
      const series = await influxql(`SELECT last(${ident('cpu_percent')}) FROM ${ident(MEASUREMENT.host)} WHERE ${await hostWhere(id)}`);
      const found = series.some((s) => s.values.length > 0);
      if (found) knownHosts.add(id);
      return found;
    },
    writeAlertEvent: (evt: AlertEvent) => writeEncoded(encodeAlert(evt)),
    async queryAlerts(r: AlertQuery): Promise<AlertEvent[]> {
      await ready();
      const stateCond = r.state ? ` AND ${ident('state')} = ${q(r.state)}` : '';
      const series = await influxql(`SELECT * FROM ${ident(MEASUREMENT.alert)} WHERE time >= ${Math.floor(r.fromMs)}ms
        AND time <= ${Math.floor(r.toMs)}ms${stateCond} ORDER BY time DESC LIMIT ${Math.max(1, Math.floor(r.limit ?? 1000))}`);
      const s = series[0];
      if (!s) return [];
      const idx = new Map(s.columns.map((c, i) => [c, i]));
      const get = (row: unknown[], c: string): unknown => row[idx.get(c) ?? -1];
      return s.values.map((row) => {
        let context: Record<string, unknown> = {};
        try { context = JSON.parse(String(get(row, 'context') ?? '{}')) as Record<string, unknown>; } catch { /* keep empty */ }
        return {
          id: String(get(row, 'id') ?? ''), ruleId: String(get(row, 'rule_id') ?? ''), severity: String(get(row, 'severity') ?? ''),
          state: get(row, 'state') === 'resolved' ? 'resolved' : 'firing', host: String(get(row, 'host') ?? ''),
          containerId: String(get(row, 'container_id') ?? ''), containerName: String(get(row, 'container_name') ?? ''),
          value: Number(get(row, 'value') ?? NaN), threshold: Number(get(row, 'threshold') ?? NaN),
          message: String(get(row, 'message') ?? ''), timestampMs: Number(row[0]), context,
        } satisfies AlertEvent;
      });
    },
    async health(): Promise<StoreHealth> {
      try {
        const r = await ready();
        return {
          backend: 'influxdb', ok: true, version: r.version, writePath: r.writePath, bucket, lastWriteOkMs, writeRequests, linesWritten,
          rollupMinutesOpen: containerRollups.size() + hostRollups.size(), rollupBackfillsWaiting: backfills.length,
        };
      } catch (err) {
        return { backend: 'influxdb', ok: false, bucket, error: (err as Error).message, lastWriteOkMs };
      }
    },
    async close() {
      clearInterval(backfillTimer);
      while (queue.length > 0 || inFlight.size > 0) {
        pump();
        await Promise.allSettled([...inFlight]);
      }
      // Open and waiting minutes, within a few seconds: what is left is recomputed by the next
      // start (it redoes the five minutes before it).
      if (rollupsOn()) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([backfillRollups().catch(() => undefined), new Promise((r) => { timer = setTimeout(r, 5000); })]);
        clearTimeout(timer);
      }
      writeAgent.destroy();
    },
  };
}

interface InfluxQlSeries { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> }
