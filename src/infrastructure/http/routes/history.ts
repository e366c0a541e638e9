// History routes: GET /api/metrics (one container) and GET /api/hosts/:id/metrics; the stored
// lifecycle events: GET /api/containers/:id/events and GET /api/hosts/:id/events.
// Parameter checks live in the use case (application/history.ts) and throw AppError
// INVALID_ARGUMENT with the parameter's name; the app's error handler maps that to 400.
// The schemas only fix types and sizes, so every semantic error keeps one shape.
import type { FastifyInstance } from 'fastify';
import {
  containerHistory, hostHistory, MAX_EVENT_LIMIT, storedEvents, type EventsResult, type HistoryResult,
} from '../../../application/history.js';
import type { EventReader, HistoryReader } from '../../../application/store-ports.js';
import { CONTAINER_METRICS, HOST_METRICS } from '../../../domain/rollup.js';

export interface HistoryRoutesOptions {
  store: HistoryReader & EventReader;
  now?: () => number;
}

const rangeProps = {
  from: { type: 'string', maxLength: 64 },
  to: { type: 'string', maxLength: 64 },
  step: { type: 'string', maxLength: 32 },
} as const;

/** What both kinds of answer start with: the target and the range read (ISO 8601). */
const windowOut = { id: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } } as const;
const presentWindow = (r: { id: string; fromMs: number; toMs: number }) =>
  ({ id: r.id, from: new Date(r.fromMs).toISOString(), to: new Date(r.toMs).toISOString() });

const seriesResponse = {
  200: {
    type: 'object',
    properties: {
      ...windowOut,
      step_ms: { type: 'number' },
      fields: { type: 'array', items: { type: 'string' } },
      points: {
        type: 'array',
        items: { type: 'object', properties: { ts: { type: 'number' } }, additionalProperties: { type: ['number', 'null'] } },
      },
    },
  },
} as const;

/** The public shape is snake_case like the rest of the API: {id, from, to, step_ms, fields, points: [{ts, cpu_percent, ...}]}. */
function present(r: HistoryResult, metrics: readonly { key: string; column: string }[]) {
  return {
    ...presentWindow(r),
    step_ms: r.stepMs,
    fields: metrics.map((m) => m.column),
    points: r.points.map((p) => {
      const out: Record<string, number | null> = { ts: p.timestampMs };
      for (const m of metrics) out[m.column] = (p.values as Record<string, number | undefined>)[m.key] ?? null;
      return out;
    }),
  };
}

interface RangeQuery { from?: string; to?: string; step?: string }

const eventsQuery = {
  type: 'object',
  properties: {
    from: rangeProps.from, to: rangeProps.to,
    action: { type: 'string', maxLength: 512 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_EVENT_LIMIT },
  },
} as const;
const idParam = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['id'] } as const;
const eventsResponse = {
  200: {
    type: 'object',
    properties: {
      ...windowOut,
      truncated: { type: 'boolean' },
      events: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            ts: { type: 'number' }, host: { type: 'string' }, container_id: { type: 'string' }, container_name: { type: 'string' },
            action: { type: 'string' }, exit_code: { type: 'integer' }, health: { type: 'string' },
          },
        },
      },
    },
  },
} as const;

function presentEvents(r: EventsResult) {
  return {
    ...presentWindow(r),
    truncated: r.truncated,
    events: r.events.map((e) => ({
      ts: e.timestampMs, host: e.host, container_id: e.containerId, container_name: e.containerName,
      action: e.action, exit_code: e.exitCode, health: e.health,
    })),
  };
}

interface EventsQuery { from?: string; to?: string; action?: string; limit?: number }

export async function historyRoutes(app: FastifyInstance, opts: HistoryRoutesOptions): Promise<void> {
  const deps = { store: opts.store, now: opts.now ?? Date.now };

  app.get<{ Querystring: RangeQuery & { container_id?: string } }>('/api/metrics', {
    config: { role: 'viewer' },
    schema: {
      querystring: { type: 'object', properties: { container_id: { type: 'string', maxLength: 128 }, ...rangeProps } },
      response: seriesResponse,
    },
  }, async (req) => present(await containerHistory(deps, req.query.container_id, req.query), CONTAINER_METRICS));

  app.get<{ Params: { id: string }; Querystring: RangeQuery }>('/api/hosts/:id/metrics', {
    config: { role: 'viewer' },
    schema: {
      params: idParam,
      querystring: { type: 'object', properties: rangeProps },
      response: seriesResponse,
    },
  }, async (req) => present(await hostHistory(deps, req.params.id, req.query), HOST_METRICS));

  for (const by of ['container', 'host'] as const) {
    app.get<{ Params: { id: string }; Querystring: EventsQuery }>(`/api/${by}s/:id/events`, {
      config: { role: 'viewer' },
      schema: { params: idParam, querystring: eventsQuery, response: eventsResponse },
    }, async (req) => presentEvents(await storedEvents(deps, by, req.params.id, req.query)));
  }
}
