// A minimal Docker Engine API client over node:http: the five GETs the agent needs (list,
// inspect, events, stats, logs) on one keep-alive agent. Why not dockerode here: loading it
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
  close(): void;
}

/** An Engine API error; `statusCode` 0 means the daemon could not be reached. */
export class EngineError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
    this.name = 'EngineError';
  }
}

export function createEngineClient(dockerHost?: string, opts: { maxSockets?: number } = {}): EngineClient {
  const endpoint = dockerOptions(dockerHost);
  // Keep-alive: a poll every second reuses its connection instead of dialling each time.
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 16 });

  function request(path: string, o: EngineRequestOptions = {}): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.request({ ...endpoint, path, method: 'GET', agent, signal: o.signal, headers: { Host: 'docker' } }, (res) => {
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
          reject(new EngineError(`engine ${status} on ${path.split('?')[0]}: ${msg.trim()}`, status));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new EngineError(`engine unreachable: ${err.message}`, 0)));
      req.end();
    });
  }

  async function getBuffer(path: string, o?: EngineRequestOptions): Promise<Buffer> {
    const res = await request(path, o);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  return {
    getBuffer,
    async getJson<T>(path: string, o?: EngineRequestOptions): Promise<T> {
      return JSON.parse((await getBuffer(path, o)).toString('utf8')) as T;
    },
    stream: request,
    close: () => agent.destroy(),
  };
}
