// GET /metrics in Prometheus text format: on the main app as a fastify plugin (the auth plugin
// checks METRICS_TOKEN there), and on its own small listener when METRICS_PORT is set.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';

export type RenderMetrics = () => Promise<string>;

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsRouteOptions {
  render: RenderMetrics;
  contentType?: string;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, opts) => {
  const contentType = opts.contentType ?? PROMETHEUS_CONTENT_TYPE;
  app.get('/metrics', {
    // "public" for the user/role check; the auth plugin asks for METRICS_TOKEN here when it is set.
    config: { role: 'public' },
    schema: { response: { 200: { type: 'string' } } },
  }, async (_req, reply) => {
    const text = await opts.render();
    // A string with a non-JSON content type goes out as is, past the response serializer.
    return reply.type(contentType).header('cache-control', 'no-store').send(text);
  });
};

export interface MetricsListener {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export interface MetricsListenerOptions {
  /** When set, requests need `Authorization: Bearer <token>` (METRICS_TOKEN). */
  token?: string | undefined;
  contentType?: string;
  /** Told about render failures; the scraper only sees a 500. */
  onError?: (err: unknown) => void;
}

/**
 * A separate listener for METRICS_PORT: only GET/HEAD /metrics, nothing else of the app,
 * so the port can be opened to a Prometheus network without exposing the dashboard or API.
 */
export async function startMetricsListener(
  port: number,
  host: string,
  render: RenderMetrics,
  opts: MetricsListenerOptions = {},
): Promise<MetricsListener> {
  const contentType = opts.contentType ?? PROMETHEUS_CONTENT_TYPE;
  const expected = opts.token ? Buffer.from(opts.token) : undefined;

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed\n');
    }
    if (expected && !bearerMatches(req.headers.authorization, expected)) {
      res.setHeader('www-authenticate', 'Bearer realm="metrics"');
      return plain(res, 401, 'unauthorized\n');
    }
    render().then((text) => {
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    }, (err: unknown) => {
      opts.onError?.(err);
      plain(res, 500, 'internal error\n');
    });
  });
  // Slow or idle scrapers must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function plain(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const got = Buffer.from(m[1]!);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
