// A minimal Docker Engine API client over node:http: the five GETs the agent needs (list,
// inspect, events, stats, logs) and a body-less POST (restart, for autoheal) on one
// keep-alive agent. Why not dockerode here: loading it
// (docker-modem, ssh2, the BuildKit gRPC session) adds about 28 MB RSS to the agent, which
// alone breaks the agent's 60 MB budget; these calls need none of that.
import http from 'node:http';
import { AppError } from '../../application/errors.js';

export type EngineEndpoint = { socketPath: string } | { host: string; port: number };

/** DOCKER_HOST -> where to connect. unix:// (or a bare path) and tcp:// (plain HTTP) are supported. */
export function dockerOptions(dockerHost: string | undefined): EngineEndpoint {
  const h = dockerHost && dockerHost.trim() !== '' ? dockerHost.trim() : 'unix:///var/run/docker.sock';
  if (h.startsWith('unix://')) return { socketPath: h.slice('unix://'.length) };
  if (h.startsWith('/')) return { socketPath: h };
  const m = /^(?:tcp|http):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(h);
  if (!m) {
    throw new AppError('INVALID_ARGUMENT', `unsupported DOCKER_HOST "${h}" (use unix:///path or tcp://host:port; TLS is not supported)`, {
      field: 'DOCKER_HOST',
    });
  }
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 2375 };
}

export interface EngineRequestOptions {
  signal?: AbortSignal;
}

export interface EngineClient {
  getJson<T>(path: string, opts?: EngineRequestOptions): Promise<T>;
  getBuffer(path: string, opts?: EngineRequestOptions): Promise<Buffer>;
  /** A streaming GET (events); the caller reads and destroys the response. */
  stream(path: string, opts?: EngineRequestOptions): Promise<http.IncomingMessage>;
  /** A POST without a body (e.g. /containers/{id}/restart); resolves with the response body on 2xx. */
  post(path: string, opts?: EngineRequestOptions): Promise<Buffer>;
  close(): void;
}

/** An Engine API error; `statusCode` 0 means the daemon could not be reached. */
export class EngineError extends Error {
  /** `engineMessage`: the daemon's own words (the JSON body's message), without our prefix. */
  constructor(message: string, readonly statusCode: number, readonly engineMessage: string = message) {
    super(message);
    this.name = 'EngineError';
  }
}

const GET_HEADERS = { Host: 'docker' };
const POST_HEADERS = { Host: 'docker', 'Content-Length': '0' };

export function createEngineClient(dockerHost?: string, opts: { maxSockets?: number } = {}): EngineClient {
  const endpoint = dockerOptions(dockerHost);
  // Keep-alive: a poll every second reuses its connection instead of dialling each time.
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 16 });

  function request(path: string, o: EngineRequestOptions = {}, method: 'GET' | 'POST' = 'GET'): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      // A POST without a body says so; otherwise node would send it chunked.
      const headers = method === 'GET' ? GET_HEADERS : POST_HEADERS;
      const req = http.request({ ...endpoint, path, method, agent, signal: o.signal, headers }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let msg = body;
          try {
            msg = (JSON.parse(body) as { message?: string }).message ?? body;
          } catch {
            // plain-text error body
          }
          reject(new EngineError(`engine ${status} on ${method === 'GET' ? '' : `${method} `}${path.split('?')[0]}: ${msg.trim()}`, status, msg.trim()));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new EngineError(`engine unreachable: ${err.message}`, 0)));
      req.end();
    });
  }

  async function readAll(res: http.IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async function getBuffer(path: string, o?: EngineRequestOptions): Promise<Buffer> {
    return readAll(await request(path, o));
  }

  return {
    getBuffer,
    async getJson<T>(path: string, o?: EngineRequestOptions): Promise<T> {
      return JSON.parse((await getBuffer(path, o)).toString('utf8')) as T;
    },
    stream: (path, o) => request(path, o),
    post: async (path, o) => readAll(await request(path, o, 'POST')),
    close: () => agent.destroy(),
  };
}
