// HTTP to InfluxDB: errors as AppErrors (one place, so retry and breaker decide by code),
// InfluxQL over /query, and the v1 write path's request over node:http keep-alive sockets.
import nodeHttp from 'node:http';
import https from 'node:https';
import { AppError } from '../../application/errors.js';

export const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
export const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

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

export const networkError = (err: unknown, what: string): AppError =>
  err instanceof AppError ? err : new AppError('UNAVAILABLE', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });

export interface InfluxQlSeries { name: string; columns: string[]; values: unknown[][]; tags?: Record<string, string> }

export interface InfluxHttp {
  /** Set once /ping told the version: 1.x before 1.8 takes "user:password" as Basic auth. */
  legacy: boolean;
  request(path: string, init: { method: string; body?: Buffer | string; headers?: Record<string, string> }, what: string): Promise<Response>;
  /** InfluxQL; "database not found" reads as no series. */
  influxql(query: string, opts?: { post?: boolean; db?: boolean }): Promise<InfluxQlSeries[]>;
  /** A POST whose body is sent as these parts, over the kept-alive write sockets. */
  postBody(path: string, parts: Buffer[], headers: Record<string, string>, what: string): Promise<void>;
  destroy(): void;
}

export function createInfluxHttp(o: { base: string; token: string; bucket: string; timeoutMs: number; maxSockets: number; legacy: boolean }): InfluxHttp {
  const { base, token, bucket, timeoutMs } = o;

  function authHeaders(legacy: boolean): Record<string, string> {
    if (!token) return {};
    if (legacy && token.includes(':')) return { authorization: `Basic ${Buffer.from(token).toString('base64')}` };
    return { authorization: `Token ${token}` };
  }

  // Writes on the v1 path go through node:http with keep-alive sockets, one per concurrent
  // write: fetch copies a request body once more and costs several times the CPU per request.
  const agentOpts = { keepAlive: true, maxSockets: Math.max(1, o.maxSockets) };
  const writeAgent = base.startsWith('https:') ? new https.Agent(agentOpts) : new nodeHttp.Agent(agentOpts);

  const self: InfluxHttp = {
    legacy: o.legacy,

    async request(path, init, what) {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method: init.method, headers: { ...authHeaders(self.legacy), ...init.headers },
          ...(init.body === undefined ? {} : { body: typeof init.body === "string" ? init.body : new Uint8Array(init.body) }), signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw networkError(err, what);
      }
      if (!res.ok) throw httpError(res.status, await res.text().catch(() => ''), res.headers.get('retry-after'), what);
      return res;
    },

    async influxql(query, opts2 = {}) {
      const params = new URLSearchParams({ q: query, epoch: 'ms' });
      if (opts2.db !== false) params.set('db', bucket);
      const res = await self.request(`/query?${params.toString()}`, { method: opts2.post ? 'POST' : 'GET' }, 'influxdb query');
      const body = await res.json() as { results?: Array<{ series?: InfluxQlSeries[]; error?: string }>; error?: string };
      const err = body.error ?? body.results?.find((r) => r.error)?.error;
      if (err) {
        if (/database not found/.test(err)) return [];
        throw new AppError('INVALID_ARGUMENT', `influxdb query: ${err}`);
      }
      return body.results?.flatMap((r) => r.series ?? []) ?? [];
    },

    postBody(path, parts, headers, what) {
      const length = parts.reduce((n, p) => n + p.length, 0);
      const url = new URL(`${base}${path}`);
      const mod = url.protocol === 'https:' ? https : nodeHttp;
      return new Promise<void>((resolve, reject) => {
        const req = mod.request(url, {
          method: 'POST', agent: writeAgent, timeout: timeoutMs,
          headers: { ...authHeaders(self.legacy), ...headers, 'content-length': String(length) },
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
    },

    destroy: () => writeAgent.destroy(),
  };
  return self;
}
