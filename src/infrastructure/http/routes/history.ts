// History routes: GET /api/metrics (one container) and GET /api/hosts/:id/metrics.
// Parameter checks live in the use case (application/history.ts) and throw AppError
// INVALID_ARGUMENT with the parameter's name; the app's error handler maps that to 400.
// The schemas only fix types and sizes, so every semantic error keeps one shape.
import type { FastifyInstance } from 'fastify';
import { containerHistory, hostHistory, type HistoryResult } from '../../../application/history.js';
import type { HistoryReader } from '../../../application/store-ports.js';
import { CONTAINER_METRICS, HOST_METRICS } from '../../../domain/rollup.js';

export interface HistoryRoutesOptions {
  store: HistoryReader;
  now?: () => number;
}

const rangeProps = {
  from: { type: 'string', maxLength: 64 },
  to: { type: 'string', maxLength: 64 },
  step: { type: 'string', maxLength: 32 },
} as const;

const seriesResponse = {
  200: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
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
    id: r.id,
    from: new Date(r.fromMs).toISOString(),
    to: new Date(r.toMs).toISOString(),
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
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['id'] },
      querystring: { type: 'object', properties: rangeProps },
      response: seriesResponse,
    },
  }, async (req) => present(await hostHistory(deps, req.params.id, req.query), HOST_METRICS));
}
