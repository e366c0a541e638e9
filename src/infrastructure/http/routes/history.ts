// History routes: GET /api/metrics (one container) and GET /api/hosts/:id/metrics.
// Parameter checks live in the use case (application/history.ts) and throw AppError
// INVALID_ARGUMENT with the parameter's name; the app's error handler maps that to 400.
// The schemas only fix types and sizes, so every semantic error keeps one shape.
import type { FastifyInstance } from 'fastify';
import { containerHistory, hostHistory, type HistoryResult } from '../../../application/history.js';
import type { HistoryReader } from '../../../application/store-ports.js';

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
      fromMs: { type: 'number' },
      toMs: { type: 'number' },
      stepMs: { type: 'number' },
      fields: { type: 'array', items: { type: 'string' } },
      points: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            timestampMs: { type: 'number' },
            values: { type: 'object', additionalProperties: { type: ['number', 'null'] } },
          },
        },
      },
    },
  },
} as const;

interface RangeQuery { from?: string; to?: string; step?: string }

export async function historyRoutes(app: FastifyInstance, opts: HistoryRoutesOptions): Promise<void> {
  const deps = { store: opts.store, now: opts.now ?? Date.now };

  app.get<{ Querystring: RangeQuery & { container_id?: string } }>('/api/metrics', {
    config: { role: 'viewer' },
    schema: {
      querystring: { type: 'object', properties: { container_id: { type: 'string', maxLength: 128 }, ...rangeProps } },
      response: seriesResponse,
    },
  }, async (req): Promise<HistoryResult> => containerHistory(deps, req.query.container_id, req.query));

  app.get<{ Params: { id: string }; Querystring: RangeQuery }>('/api/hosts/:id/metrics', {
    config: { role: 'viewer' },
    schema: {
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['id'] },
      querystring: { type: 'object', properties: rangeProps },
      response: seriesResponse,
    },
  }, async (req): Promise<HistoryResult> => hostHistory(deps, req.params.id, req.query));
}
