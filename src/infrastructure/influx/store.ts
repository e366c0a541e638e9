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
import { CONTAINER_METRICS, HOST_METRICS, type MetricDef, type SeriesPoint } from '../../domain/rollup.js';
import type {
  AlertEvent, AlertQuery, ContainerRangeQuery, HostRangeQuery, LatestPoint, MetricsStore, StoreHealth,
} from '../../application/store-ports.js';
import type { Logger } from '../../application/ports.js';
import type { MetricBatch } from '../../domain/types.js';
import { AppError } from '../../application/errors.js';
import { alertToLine, batchToBuffer, MEASUREMENT } from './points.js';

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
  /** 1-minute rollups through continuous queries on 1.x servers (default on). */
  rollups?: boolean;
  /** How often late points are rolled up, default 30 s. */
  backfillEveryMs?: number;
  log?: Logger;
}

/** Line protocol ready to send: `count` lines; `minTs` the oldest metric timestamp (0 for none). */
export interface EncodedWrite { body: Buffer; count: number; minTs: number }

// An EncodedWrite as a spool record: [u8 1][u32 count][f64 minTs][line protocol]. Records
// of earlier versions were JSON ({"kind":"batch"|"alert",...}, first byte "{"): they are
// encoded on read, so a spool left by an older server is still written, not cut as torn.
const RECORD_V1 = 1;
function encodedCodec(encodeBatch: (b: MetricBatch) => EncodedWrite, encodeAlert: (e: AlertEvent) => EncodedWrite) {
  return {
    encode(e: EncodedWrite): Buffer[] {
      const head = Buffer.allocUnsafe(13);
      head.writeUInt8(RECORD_V1, 0);
      head.writeUInt32LE(e.count, 1);
      head.writeDoubleLE(e.minTs, 5);
      return [head, e.body];
    },
    decode(buf: Buffer): EncodedWrite {
      if (buf[0] === RECORD_V1 && buf.length >= 13) {
        return { count: buf.readUInt32LE(1), minTs: buf.readDoubleLE(5), body: buf.subarray(13) };
      }
      const legacy = JSON.parse(buf.toString('utf8')) as { kind: 'batch'; batch: MetricBatch } | { kind: 'alert'; evt: AlertEvent };
      if (legacy.kind === 'batch') return encodeBatch(legacy.batch);
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
  /** Resolves the server version and ensures the database/bucket exists. Called lazily too. */
  ready(): Promise<{ version: string; writePath: 'v1' | 'v2' }>;
  /** Run the rollup backfill for late points now (it also runs every backfillEveryMs). */
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
      if (rollupsOn()) await ensureContinuousQueries();
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

  // ---------- 1-minute rollups (1.x continuous queries) ----------
  // A 24 h chart over raw 1 s points costs InfluxDB 1.x about 17 ms per field (150 ms for a
  // container's 9 fields here), so steps of whole minutes read `<measurement>_1m`, filled by
  // a continuous query (RESAMPLE FOR 10m catches slightly late points) and, for older late
  // data (a spool replay), by a backfill this adapter runs itself. Rollups keep sum and count
  // for gauges (exact weighted means across buckets) and max for counters. The newest
  // RESAMPLE window is always read from raw points.
  const ROLLUP_MS = 60_000;
  const RESAMPLE_MS = 10 * 60_000;
  const rollupsOn = (): boolean => opts.rollups !== false && /^v?1\./.test(info?.version ?? '');
  const rollupName = (m: string): string => `${m}_1m`;
  const rollupSelect = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
    ? `max(${ident(m.column)}) AS ${ident(m.column)}`
    : `sum(${ident(m.column)}) AS ${ident(`${m.column}_sum`)}, count(${ident(m.column)}) AS ${ident(`${m.column}_n`)}`)).join(', ');
  const rollupRead = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
    ? `max(${ident(m.column)}) AS ${ident(m.column)}`
    : `sum(${ident(`${m.column}_sum`)}) / sum(${ident(`${m.column}_n`)}) AS ${ident(m.column)}`)).join(', ');
  const ROLLED = [
    { measurement: MEASUREMENT.container, metrics: CONTAINER_METRICS },
    { measurement: MEASUREMENT.host, metrics: HOST_METRICS },
  ] as const;

  async function ensureContinuousQueries(): Promise<void> {
    for (const r of ROLLED) {
      const name = ident(`dw_${r.measurement}_1m`);
      try {
        await influxql(`CREATE CONTINUOUS QUERY ${name} ON ${ident(bucket)} RESAMPLE EVERY 1m FOR 10m BEGIN
          SELECT ${rollupSelect(r.metrics)} INTO ${ident(rollupName(r.measurement))} FROM ${ident(r.measurement)}
          GROUP BY time(1m), * END`, { post: true, db: false });
      } catch (err) {
        // Exists already, or no admin right: reads still work from raw points, only slower.
        if (!(err instanceof AppError && /already exists/.test(err.message))) {
          log?.warn({ reason: (err as Error).message }, 'cannot create the InfluxDB continuous query for rollups; long ranges read raw points');
        }
      }
    }
  }

  let lateFromMs: number | undefined;
  function noteLate(minTs: number): void {
    if (!rollupsOn()) return;
    if (minTs < Date.now() - RESAMPLE_MS + ROLLUP_MS) lateFromMs = Math.min(lateFromMs ?? minTs, minTs);
  }

  /** Recomputes rollups for points that arrived too late for the continuous query. */
  async function backfillRollups(): Promise<void> {
    if (lateFromMs === undefined || !rollupsOn()) return;
    const from = Math.floor(lateFromMs / ROLLUP_MS) * ROLLUP_MS;
    lateFromMs = undefined;
    const until = Math.floor((Date.now() - RESAMPLE_MS) / ROLLUP_MS) * ROLLUP_MS + ROLLUP_MS;
    try {
      for (let t = from; t < until; t += 6 * 3_600_000) {
        const end = Math.min(until, t + 6 * 3_600_000);
        for (const r of ROLLED) {
          await influxql(`SELECT ${rollupSelect(r.metrics)} INTO ${ident(rollupName(r.measurement))} FROM ${ident(r.measurement)}
            WHERE time >= ${t}ms AND time < ${end}ms GROUP BY time(1m), *`, { post: true });
        }
      }
    } catch (err) {
      lateFromMs = Math.min(lateFromMs ?? from, from); // try again next round
      throw err;
    }
  }
  const backfillTimer = setInterval(() => {
    backfillRollups().catch((err) => { log?.warn({ reason: (err as Error).message }, 'rollup backfill failed; will retry'); });
  }, opts.backfillEveryMs ?? 30_000);
  backfillTimer.unref();

  async function rangeQuery(measurement: string, where: string, metrics: readonly MetricDef<string>[], fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    await ready();
    const step = Math.max(1, Math.round(stepMs));
    const raw = async (from: number, to: number): Promise<SeriesPoint[]> => toPoints(await influxql(`SELECT ${selectList(metrics)}
      FROM ${ident(measurement)} WHERE ${where} AND time >= ${Math.floor(from)}ms AND time <= ${Math.floor(to)}ms
      GROUP BY time(${step}ms) fill(none)`), metrics);
    const split = Math.floor((Date.now() - RESAMPLE_MS) / step) * step;
    if (!rollupsOn() || step % ROLLUP_MS !== 0 || fromMs >= split) return raw(fromMs, toMs);
    const rolledTo = Math.min(split, toMs + 1);
    const [older, newer] = await Promise.all([
      influxql(`SELECT ${rollupRead(metrics)} FROM ${ident(rollupName(measurement))} WHERE ${where}
        AND time >= ${Math.floor(fromMs / ROLLUP_MS) * ROLLUP_MS}ms AND time < ${Math.floor(rolledTo)}ms
        GROUP BY time(${step}ms) fill(none)`).then((sr) => toPoints(sr, metrics)),
      toMs >= split ? raw(split, toMs) : Promise.resolve([]),
    ]);
    return [...older, ...newer];
  }

  // ---------- encoded writes ----------
  // A batch is encoded once; the bytes are what the resilient store spools and what is sent.
  function encodeBatch(batch: MetricBatch): EncodedWrite {
    const { body, count } = batchToBuffer(batch);
    let minTs = batch.host?.timestampMs ?? Infinity;
    for (const c of batch.containers) {
      if (c.timestampMs < minTs) minTs = c.timestampMs;
      knownContainers.add(c.id);
    }
    if (batch.host) { knownHosts.add(batch.hostname); knownHosts.add(batch.agentId); }
    return { body, count, minTs: Number.isFinite(minTs) ? minTs : 0 };
  }

  const encodeAlert = (evt: AlertEvent): EncodedWrite => ({ body: Buffer.from(alertToLine(evt)), count: 1, minTs: 0 });

  async function writeEncoded(e: EncodedWrite): Promise<void> {
    await enqueue(e.body, e.count);
    if (e.minTs > 0) noteLate(e.minTs);
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
    encodedCodec: encodedCodec(encodeBatch, encodeAlert),
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
    async hasContainer(id) {
      if (knownContainers.has(id)) return true;
      await ready();
      const series = await influxql(`SHOW TAG VALUES FROM ${ident(MEASUREMENT.container)} WITH KEY = ${ident('container_id')} WHERE ${ident('container_id')} = ${q(id)}`);
      const found = series.some((s) => s.values.length > 0);
      if (found) knownContainers.add(id);
      return found;
    },
    async hasHost(id) {
      if (knownHosts.has(id)) return true;
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
        return { backend: 'influxdb', ok: true, version: r.version, writePath: r.writePath, bucket, lastWriteOkMs, writeRequests, linesWritten };
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
      writeAgent.destroy();
    },
  };
}

interface InfluxQlSeries { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> }
