// The HTTP edge: fastify with a schema on every route, the live WebSocket, the static pages,
// and the single place where AppError codes become HTTP statuses.
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import fastifyStatic from '@fastify/static';
import type { WebSocket } from 'ws';
import { isAppError, type ErrorCode } from '../../application/errors.js';
import type { LatestStore, MetricsBus } from '../../application/ports.js';
import type { HostedContainerSample, MetricBatch } from '../../domain/types.js';
import { presentContainer, presentHost, presentHostSample } from './present.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  components: Record<string, { status: 'ok' | 'degraded' | 'down' | 'disabled'; [k: string]: unknown }>;
}

export interface WsFilterQuery {
  host?: string;
  id?: string;
  name?: string;
  label?: string;
}

export interface HttpDeps {
  logger: FastifyBaseLogger;
  latest: LatestStore;
  bus: MetricsBus;
  health: () => Promise<HealthReport> | HealthReport;
  webDir: string;
  chartJsFile: string;
  /** Builds the per-client predicate from ?host=&id=&name=&label= (comma lists); throws INVALID_ARGUMENT. */
  compileFilter: (q: WsFilterQuery) => (c: HostedContainerSample) => boolean;
  /** Throws UNAUTHENTICATED/PERMISSION_DENIED; absent = open (tests of the bare app only). */
  authenticateWebSocket?: (req: FastifyRequest) => Promise<void>;
  /** Registered before the core routes, in order: auth, helmet, history, alerts, metrics... */
  plugins?: FastifyPluginAsync[];
  wsMaxBufferedBytes?: number;
  /** Alert transitions pushed to /ws clients as {type:'alert', alert}; returns the unsubscribe. */
  alertFeed?: (listener: (alert: unknown) => void) => () => void;
  /** What Dockwatch did (autoheal), pushed as {type:'action', action}. */
  actionFeed?: (listener: (action: unknown) => void) => () => void;
  onWsClients?: (count: number) => void;
  onWsDropped?: (count: number) => void;
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** WebSocket close code for a refused token, mirroring HTTP 401. */
export const WS_UNAUTHORIZED = 4401;
export const WS_FORBIDDEN = 4403;
export const WS_BAD_REQUEST = 4400;

export async function buildApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Per-request lines would drown the useful ones (and /ws URLs may carry a token).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Alert ids (rule|host|64-hex container id|timestamp|state) are longer than the default 100.
    routerOptions: { maxParamLength: 512 },
    // Query strings may carry ?token= for the WebSocket: keep URLs out of default logs.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (isAppError(err)) {
      const status = HTTP_STATUS[err.code];
      if (err.retryAfterMs) reply.header('retry-after', Math.ceil(err.retryAfterMs / 1000));
      if (status >= 500) req.log.error({ err, url: req.routeOptions.url }, 'request failed');
      return reply.status(status).send({
        error: err.code,
        message: status >= 500 ? 'internal error' : err.message,
        ...(err.field ? { field: err.field } : {}),
      });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const first = fe.validation[0];
      const field = first
        ? (first.instancePath.replace(/^\//, '').replace(/\//g, '.') || (first.params as { missingProperty?: string }).missingProperty || fe.validationContext)
        : undefined;
      return reply.status(400).send({ error: 'INVALID_ARGUMENT', message: `${fe.validationContext ?? 'request'}${field ? ` ${field}` : ''}: ${first?.message ?? fe.message}`, field });
    }
    if (fe.statusCode && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: fe.code ?? 'BAD_REQUEST', message: fe.message });
    }
    req.log.error({ err, url: req.routeOptions.url }, 'request failed');
    return reply.status(500).send({ error: 'INTERNAL', message: 'internal error' });
  });

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  for (const plugin of deps.plugins ?? []) await app.register(plugin);

  app.get('/health', {
    config: { role: 'public' },
    schema: { response: { 200: { type: 'object', additionalProperties: true }, 503: { type: 'object', additionalProperties: true } } },
  }, async (_req, reply) => {
    const report = await deps.health();
    return reply.status(report.status === 'down' ? 503 : 200).send(report);
  });

  app.get('/api/hosts', {
    config: { role: 'viewer' },
    schema: { response: { 200: { type: 'array', items: hostSchema } } },
  }, async () => {
    // Container counts by state per agent, from the same latest store.
    const byAgent = new Map<string, Record<string, number>>();
    for (const c of deps.latest.containers()) {
      const m = byAgent.get(c.agentId) ?? {};
      m[c.state] = (m[c.state] ?? 0) + 1;
      byAgent.set(c.agentId, m);
    }
    const now = Date.now();
    return deps.latest.hosts().map((h) => presentHost(h, now, byAgent.get(h.agentId) ?? {}));
  });

  app.get('/api/containers', {
    config: { role: 'viewer' },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { host: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' } },
      },
      response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } } },
    },
  }, async (req) => {
    const match = deps.compileFilter(req.query as WsFilterQuery);
    return deps.latest.containers().filter(match).map(presentContainer);
  });

  registerLiveSocket(app, deps);

  const chartJs = readFileSync(deps.chartJsFile);
  app.get('/vendor/chart.umd.js', { config: { role: 'public' }, schema: {} }, async (_req, reply) =>
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(chartJs));

  await app.register(fastifyStatic, { root: deps.webDir, prefix: '/', index: ['index.html'], cacheControl: false });

  return app;
}

const hostSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'hostname', 'last_seen', 'status', 'interval_ms', 'container_count'],
  properties: {
    id: { type: 'string' },
    hostname: { type: 'string' },
    last_seen: { type: 'string' },
    last_seen_ms: { type: 'number' },
    interval_ms: { type: 'number' },
    status: { type: 'string', enum: ['online', 'offline'] },
    offline_after_ms: { type: 'number' },
    container_count: { type: 'integer' },
    containers_by_state: { type: 'object', additionalProperties: { type: 'integer' } },
    sample: {
      type: ['object', 'null'],
      additionalProperties: true,
      properties: {
        disks: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: true,
            properties: { mount: { type: 'string' }, device: { type: 'string' }, fs_type: { type: 'string' }, total_bytes: { type: 'number' }, used_bytes: { type: 'number' }, used_percent: { type: 'number' } },
          },
        },
      },
    },
  },
} as const;

function registerLiveSocket(app: FastifyInstance, deps: HttpDeps): void {
  const maxBuffered = deps.wsMaxBufferedBytes ?? 4 * 1024 * 1024;
  let clients = 0;
  let dropped = 0;

  app.get('/ws', {
    websocket: true,
    config: { role: 'viewer' },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          token: { type: 'string' }, host: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' },
          // 1: one {type:'samples'} message per host per round instead of one per container (opt-in: existing clients keep the old messages).
          batch: { type: 'string', enum: ['0', '1'] },
        },
      },
    },
  }, async (socket: WebSocket, req) => {
    // Messages that arrive while we authenticate are ignored; the socket is server-push only.
    try {
      await deps.authenticateWebSocket?.(req);
    } catch (err) {
      const code = isAppError(err) && err.code === 'PERMISSION_DENIED' ? WS_FORBIDDEN : WS_UNAUTHORIZED;
      socket.close(code, isAppError(err) ? err.message.slice(0, 120) : 'unauthorized');
      return;
    }
    let match: (c: HostedContainerSample) => boolean;
    try {
      match = deps.compileFilter(req.query as WsFilterQuery);
    } catch (err) {
      socket.close(WS_BAD_REQUEST, isAppError(err) ? err.message.slice(0, 120) : 'bad filter');
      return;
    }
    const batched = (req.query as { batch?: string }).batch === '1';
    clients++;
    deps.onWsClients?.(clients);

    const send = (text: string) => {
      // A client that cannot keep up loses samples instead of growing our memory.
      if (socket.bufferedAmount > maxBuffered) {
        dropped++;
        deps.onWsDropped?.(dropped);
        return;
      }
      socket.send(text);
    };

    // Snapshot first, so a fresh page is populated at once.
    for (const h of deps.latest.hosts()) {
      if (h.sample) send(JSON.stringify({ type: 'host', host: h.hostname, agent_id: h.agentId, sample: presentHostSample(h.sample) }));
    }
    // Batched: a 500-container fleet is 5 messages a second instead of 500 (a browser pays per message).
    const sendSamples = (host: string, agentId: string, items: HostedContainerSample[]) => {
      if (!batched) {
        for (const c of items) send(JSON.stringify({ type: 'sample', host, container: presentContainer(c) }));
      } else if (items.length) {
        send(JSON.stringify({ type: 'samples', host, agent_id: agentId, containers: items.map(presentContainer) }));
      }
    };
    const byAgent = new Map<string, HostedContainerSample[]>();
    for (const c of deps.latest.containers()) {
      if (!match(c)) continue;
      if (!batched) { sendSamples(c.host, c.agentId, [c]); continue; }
      const list = byAgent.get(c.agentId) ?? [];
      list.push(c);
      byAgent.set(c.agentId, list);
    }
    for (const [agentId, list] of byAgent) sendSamples(list[0]!.host, agentId, list);

    const sub = deps.bus.subscribe((batch: MetricBatch) => {
      if (socket.readyState !== socket.OPEN) return;
      if (batch.host) send(JSON.stringify({ type: 'host', host: batch.hostname, agent_id: batch.agentId, sample: presentHostSample(batch.host) }));
      const items: HostedContainerSample[] = [];
      for (const c of batch.containers) {
        const hosted: HostedContainerSample = { ...c, host: batch.hostname, agentId: batch.agentId };
        if (match(hosted)) items.push(hosted);
      }
      sendSamples(batch.hostname, batch.agentId, items);
      for (const e of batch.events) {
        send(JSON.stringify({
          type: 'event', host: batch.hostname, container_id: e.containerId, container_name: e.containerName,
          action: e.action, ts: e.timestampMs, exit_code: e.exitCode, health: e.health,
        }));
      }
    });
    const stopAlerts = deps.alertFeed?.((alert) => {
      if (socket.readyState === socket.OPEN) send(JSON.stringify({ type: 'alert', alert }));
    });
    const stopActions = deps.actionFeed?.((action) => {
      if (socket.readyState === socket.OPEN) send(JSON.stringify({ type: 'action', action }));
    });
    socket.on('close', () => {
      sub.close();
      stopAlerts?.();
      stopActions?.();
      clients--;
      deps.onWsClients?.(clients);
    });
    socket.on('error', () => socket.terminate());
  });
}
