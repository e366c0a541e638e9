// Alert routes: the rules in force (read: viewer, replace: admin) and the alert history.
// Roles are declared in route config for the auth plugin; errors are AppErrors mapped by the
// app's error handler (a bad rules document -> 400 with the path and reason).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { AlertHistory, StoredAlert } from '../../../application/alert-ports.js';
import type { RulesDocument } from '../../../application/alert-rules.js';
import type { AuditInput } from '../../../application/control.js';
import { AppError, isAppError } from '../../../application/errors.js';
import { parseTime, timeParam } from './time-param.js';

export interface AlertRoutesOptions {
  rules: { getRules(): RulesDocument; replaceRules(doc: unknown): RulesDocument };
  history: Pick<AlertHistory, 'queryAlerts'>;
  now?: () => number;
  /** Window when ?from= is absent (default 24 h). */
  defaultWindowMs?: number;
  /** Records rule replacements (ok and refused) in the audit trail; best effort, like Control.audit. */
  audit?: (e: AuditInput) => Promise<void>;
}



export async function alertRoutes(app: FastifyInstance, opts: AlertRoutesOptions): Promise<void> {
  const now = opts.now ?? Date.now;

  app.get('/api/alert-rules', {
    config: { role: 'viewer' },
    schema: { querystring: { type: 'object', properties: {} } },
  }, async () => opts.rules.getRules());

  app.put('/api/alert-rules', {
    config: { role: 'admin' },
    schema: { body: { type: 'object' } },
  }, async (req) => {
    const actor = req.user?.sub ?? 'unknown';
    const record = async (e: Omit<AuditInput, 'actor' | 'action' | 'target'>): Promise<void> => {
      await opts.audit?.({ actor, action: 'rules.replace', target: 'alert-rules', ...e }).catch(() => undefined);
    };
    let doc: RulesDocument;
    try {
      doc = opts.rules.replaceRules(req.body);
    } catch (err) {
      if (isAppError(err) && err.code === 'INVALID_ARGUMENT') {
        await record({ outcome: 'refused', details: { error: err.message, ...(err.field ? { field: err.field } : {}) } });
      }
      throw err;
    }
    await record({ outcome: 'ok', details: { rules: doc.rules.length, overrides: doc.overrides.length } });
    return doc;
  });

  app.get<{ Querystring: { state?: 'firing' | 'resolved'; from?: string | number; to?: string | number; limit?: number } }>('/api/alerts', {
    config: { role: 'viewer' },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          state: { type: 'string', enum: ['firing', 'resolved'] },
          from: timeParam,
          to: timeParam,
          limit: { type: 'integer', minimum: 1, maximum: 10_000 },
        },
      },
    },
  }, async (req) => {
    const toMs = parseTime(req.query.to, 'to') ?? now();
    const fromMs = parseTime(req.query.from, 'from') ?? toMs - (opts.defaultWindowMs ?? 86_400_000);
    if (fromMs > toMs) throw new AppError('INVALID_ARGUMENT', 'from: must not be after to', { field: 'from' });
    const alerts: StoredAlert[] = await opts.history.queryAlerts({
      fromMs, toMs, ...(req.query.state ? { state: req.query.state } : {}), limit: req.query.limit ?? 1000,
    });
    return { fromMs, toMs, alerts };
  });
}

/** The same routes as a plugin for HttpDeps.plugins. */
export const alertRoutesPlugin = (opts: AlertRoutesOptions): FastifyPluginAsync => async (app) => alertRoutes(app, opts);
