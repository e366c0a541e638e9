// A minimal Docker Engine API client over node:http (or node:https for a tcp:// engine with TLS):
// the five GETs the agent needs (list, inspect, events, stats, logs) and a body-less POST
// (restart, for autoheal) on one keep-alive agent. Why not dockerode here: loading it
// (docker-modem, ssh2, the BuildKit gRPC session) adds about 28 MB RSS to the agent, which
// alone breaks the agent's 60 MB budget; these calls need none of that. TLS costs the same
// either way (docs/decisions/007-remote-engines-tls.md).
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { AppError } from '../../application/errors.js';

/** TLS to a tcp:// engine, as the docker CLI builds it from DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH. */
export interface EngineTls {
  /** true (DOCKER_TLS_VERIFY): the daemon's certificate must chain to `ca` and name the host. */
  verify: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export type EngineEndpoint = { socketPath: string } | { host: string; port: number; tls?: EngineTls };

/**
 * DOCKER_HOST -> where to connect. unix:// (or a bare path) and tcp:// are supported; tcp:// is
 * plain HTTP unless `tls` is given. Without a port, tcp:// means 2375, or 2376 with TLS (the docker CLI's defaults).
 */
export function dockerOptions(dockerHost: string | undefined, tls?: EngineTls): EngineEndpoint {
  const h = dockerHost && dockerHost.trim() !== '' ? dockerHost.trim() : 'unix:///var/run/docker.sock';
  if (h.startsWith('unix://')) return { socketPath: h.slice('unix://'.length) };
  if (h.startsWith('/')) return { socketPath: h };
  const m = /^(?:tcp|http):\/\/(\[[0-9a-fA-F:.]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(h);
  if (!m) {
    throw new AppError('INVALID_ARGUMENT', `unsupported DOCKER_HOST "${h}" (use unix:///path or tcp://host:port, with DOCKER_TLS_VERIFY for TLS)`, {
      field: 'DOCKER_HOST',
    });
  }
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = m[2] ? Number(m[2]) : tls ? 2376 : 2375;
  return tls ? { host, port, tls } : { host, port };
}

// Node's TLS error codes for a certificate the client could not accept.
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO|SSL|TLS|ERR_OSSL|EPROTO/;

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

export function createEngineClient(dockerHost?: string, opts: { maxSockets?: number; tls?: EngineTls } = {}): EngineClient {
  const endpoint = dockerOptions(dockerHost, opts.tls);
  const tls = 'host' in endpoint ? endpoint.tls : undefined;
  // Keep-alive: a poll every second reuses its connection (and its TLS session) instead of dialling each time.
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 16 };
  const agent = tls
    ? new https.Agent({ ...agentOpts, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify })
    : new http.Agent(agentOpts);
  const doRequest = tls ? https.request : http.request;
  // The Host header says "docker", so name the server for SNI and the hostname check ourselves:
  // node would take it from the header. An IP is checked against the certificate's IP SANs ('' = no SNI).
  const where = 'host' in endpoint
    ? { host: endpoint.host, port: endpoint.port, ...(tls ? { servername: isIP(endpoint.host) ? '' : endpoint.host } : {}) }
    : { socketPath: endpoint.socketPath };

  function request(path: string, o: EngineRequestOptions = {}, method: 'GET' | 'POST' = 'GET'): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      // A POST without a body says so; otherwise node would send it chunked.
      const headers = method === 'GET' ? GET_HEADERS : POST_HEADERS;
      const req = doRequest({ ...where, path, method, agent, signal: o.signal, headers }, (res) => {
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
      req.on('error', (err: NodeJS.ErrnoException) => {
        const hint = tls && TLS_CODES.test(err.code ?? '')
          ? ` (${err.code}: TLS to the engine failed; check that DOCKER_CERT_PATH holds the CA that signed the daemon's certificate, a client certificate it accepts, and that DOCKER_HOST names a host in its certificate)`
          : '';
        reject(new EngineError(`engine unreachable: ${err.message}${hint}`, 0));
      });
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
