// The InfluxDB adapter's writes: the two write paths (1.8+/2.x/3.x through the client
// library's WriteApi, older 1.x through /write over node:http), and the coalescing in front of
// them (group commit): at most maxConcurrentWrites requests are in flight; batches arriving
// meanwhile wait and leave together in the next request. Light load: one request per batch, no
// added delay. Heavy load: large requests, as InfluxDB likes them (1.x syncs its WAL per request).
// Each caller resolves only when the request holding its lines succeeded.
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import type { InfluxDB } from '@influxdata/influxdb-client';
import { AppError } from '../../application/errors.js';
import { httpError, networkError, type InfluxHttp } from './http.js';

const gzip = promisify(zlib.gzip);

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

export interface WritePathDeps {
  http: InfluxHttp;
  client: InfluxDB;
  org: string;
  bucket: string;
  useGzip: boolean;
  ready(): Promise<{ writePath: 'v1' | 'v2' }>;
  ensureDatabase(writePath: 'v1'): Promise<void>;
}

/** One request with these bodies, on the write path the server's version calls for. */
export function createPostBodies(d: WritePathDeps): (bodies: Buffer[], count: number) => Promise<void> {
  const { http, client, org, bucket, useGzip } = d;
  return async function postBodies(bodies, count) {
    const { writePath } = await d.ready();
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
      await http.postBody(`/write?${params.toString()}`, body, headers, what);
    } catch (err) {
      // The database vanished (dropped, fresh server): create it again once and resend.
      if (err instanceof AppError && err.code === 'NOT_FOUND') {
        await d.ensureDatabase('v1');
        try {
          await http.postBody(`/write?${params.toString()}`, body, headers, what);
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
  };
}

export interface CoalescingWriter {
  /** Resolves once the request holding these lines succeeded. */
  enqueue(body: Buffer, count: number): Promise<void>;
  /** Sends everything queued and waits for every request in flight. */
  flush(): Promise<void>;
}

export function createCoalescingWriter(o: {
  post: (bodies: Buffer[], count: number) => Promise<void>;
  maxInFlight: number; maxLines: number; maxBytes: number; coalesceMs?: number;
  onWritten: (count: number) => void;
}): CoalescingWriter {
  const { post, maxLines, maxBytes } = o;
  const maxInFlight = Math.max(1, o.maxInFlight);
  const inFlight = new Set<Promise<void>>();
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
      const done: Promise<void> = post(items.map((p) => p.body), count).then(
        () => { o.onWritten(count); for (const p of items) p.resolve(); },
        async (err) => {
          // Bad data in one batch must not sink the others that shared the request: send each
          // alone so only the faulty batch is refused (a 1.x partial write kept the good points
          // already; resending them is idempotent).
          if (items.length > 1 && err instanceof AppError && err.code === 'INVALID_ARGUMENT') {
            for (const p of items) await post([p.body], p.count).then(p.resolve, p.reject);
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
    if (o.coalesceMs) setTimeout(pump, o.coalesceMs); else setImmediate(pump);
  }

  return {
    enqueue(body, count) {
      if (count === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ body, count, resolve, reject });
        schedule();
      });
    },
    async flush() {
      while (queue.length > 0 || inFlight.size > 0) {
        pump();
        await Promise.allSettled([...inFlight]);
      }
    },
  };
}
