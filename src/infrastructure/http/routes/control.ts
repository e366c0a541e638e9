// Operator routes of the control area: silences (list: viewer; create, expire: admin), the
// firing alerts with who silenced or acknowledged them (viewer), acknowledging (admin) and the
// audit trail (admin, read only: there is deliberately no route that edits or deletes it).
// Validation is the Control's: its AppErrors name the field and the app maps them (400 ...).
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AlertEvent } from '../../../application/alert-ports.js';
import type { SilenceView } from '../../../application/control.js';
import type { AuditQuery } from '../../../application/control-ports.js';
import { AppError } from '../../../application/errors.js';
import { parseTime, timeParam } from './time-param.js';
import type { Acknowledgement, AuditEvent, SilenceStatus } from '../../../domain/control.js';
import type { AlertLabels } from '../../../domain/silences.js';

/** The Control calls these routes make. */
export interface ControlRoutesControl {
  createSilence(input: unknown, actor: string): Promise<SilenceView>;
  expireSilence(id: string, actor: string): Promise<SilenceView>;
  listSilences(opts?: { expiredWithinMs?: number }): Promise<SilenceView[]>;
  silencedBy(a: AlertLabels): string[];
  acknowledge(alertId: string, actor: string, comment: string): Promise<Acknowledgement>;
  acknowledgements(alertIds: readonly string[]): Promise<Map<string, Acknowledgement>>;
  listAudit(q: AuditQuery): Promise<AuditEvent[]>;
}

/** The AlertEngine calls these routes make. */
export interface ControlRoutesAlerts {
  firing(): AlertEvent[];
  isFiring(alertId: string): boolean;
  labelsOf(e: Pick<AlertEvent, 'ruleId' | 'severity' | 'host' | 'containerId' | 'containerName'>): AlertLabels;
}

export interface ControlRoutesOptions {
  control: ControlRoutesControl;
  alerts: ControlRoutesAlerts;
  /** How long expired silences stay listed (default 24 h). */
  expiredWithinMs?: number;
}

// ---------- schemas ----------


const matcher = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'value'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    op: { type: 'string', enum: ['=', '!=', '=~', '!~'] },
    value: { type: 'string', maxLength: 1024 },
  },
} as const;

const silence = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'matchers', 'startsAtMs', 'endsAtMs', 'comment', 'createdBy', 'createdAtMs', 'updatedAtMs', 'status'],
  properties: {
    id: { type: 'string' },
    matchers: { type: 'array', items: { ...matcher, required: ['name', 'op', 'value'] } },
    startsAtMs: { type: 'integer' },
    endsAtMs: { type: 'integer' },
    comment: { type: 'string' },
    createdBy: { type: 'string' },
    createdAtMs: { type: 'integer' },
    expiredBy: { type: 'string' },
    updatedAtMs: { type: 'integer' },
    status: { type: 'string', enum: ['pending', 'active', 'expired'] },
  },
} as const;

const ack = {
  type: 'object',
  additionalProperties: false,
  required: ['by', 'at', 'comment'],
  properties: {
    /** Only in POST /api/alerts/:id/ack answers. */
    alert_id: { type: 'string' },
    by: { type: 'string' },
    /** ISO 8601. */
    at: { type: 'string' },
    comment: { type: 'string' },
  },
} as const;

const activeAlert = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'ruleId', 'severity', 'state', 'host', 'containerId', 'containerName', 'value', 'threshold', 'message', 'timestampMs',
    'silenced_by', 'acknowledged'],
  properties: {
    id: { type: 'string' },
    ruleId: { type: 'string' },
    severity: { type: 'string' },
    state: { type: 'string' },
    host: { type: 'string' },
    containerId: { type: 'string' },
    containerName: { type: 'string' },
    value: { type: 'number' },
    threshold: { type: 'number' },
    message: { type: 'string' },
    timestampMs: { type: 'integer' },
    context: { type: 'object', additionalProperties: true },
    silenced_by: { type: 'array', items: { type: 'string' } },
    acknowledged: { anyOf: [{ type: 'null' }, ack] },
  },
} as const;

const auditEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'atMs', 'actor', 'action', 'target', 'outcome', 'details'],
  properties: {
    id: { type: 'string' },
    atMs: { type: 'integer' },
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    outcome: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
} as const;

const idParam = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

// ---------- helpers ----------

const actorOf = (req: FastifyRequest): string => {
  // The auth hook sets the user on every admin route; no user means the hook is missing.
  if (!req.user?.sub) throw new AppError('UNAUTHENTICATED', 'no authenticated user');
  return req.user.sub;
};

const presentAck = (a: Acknowledgement): { by: string; at: string; comment: string } =>
  ({ by: a.by, at: new Date(a.atMs).toISOString(), comment: a.comment });


// ---------- routes ----------

export async function controlRoutes(app: FastifyInstance, opts: ControlRoutesOptions): Promise<void> {
  const { control, alerts } = opts;

  app.get<{ Querystring: { state?: SilenceStatus } }>('/api/silences', {
    config: { role: 'viewer' },
    schema: {
      querystring: {
        type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['active', 'pending', 'expired'] } },
      },
      response: { 200: { type: 'object', required: ['silences'], properties: { silences: { type: 'array', items: silence } } } },
    },
  }, async (req) => {
    const all = await control.listSilences(opts.expiredWithinMs === undefined ? {} : { expiredWithinMs: opts.expiredWithinMs });
    return { silences: req.query.state ? all.filter((s) => s.status === req.query.state) : all };
  });

  app.post('/api/silences', {
    config: { role: 'admin' },
    schema: {
      // Structure only; the bounds and meaning (times, rule ids, regexes, catch-alls) are the Control's.
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['matchers', 'comment'],
        properties: {
          matchers: { type: 'array', minItems: 1, maxItems: 32, items: matcher },
          starts_at: timeParam,
          ends_at: timeParam,
          duration: { type: 'string', maxLength: 20 },
          comment: { type: 'string', maxLength: 2000 },
          force: { type: 'boolean' },
        },
      },
      response: { 201: silence, 400: errorBody },
    },
  }, async (req, reply) => reply.code(201).send(await control.createSilence(req.body, actorOf(req))));

  app.delete<{ Params: { id: string } }>('/api/silences/:id', {
    config: { role: 'admin' },
    schema: { params: idParam, response: { 200: silence, 404: errorBody, 409: errorBody } },
  }, async (req) => control.expireSilence(req.params.id, actorOf(req)));

  app.get('/api/alerts/active', {
    config: { role: 'viewer' },
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      response: { 200: { type: 'object', required: ['alerts'], properties: { alerts: { type: 'array', items: activeAlert } } } },
    },
  }, async () => {
    const firing = alerts.firing();
    const acks = firing.length > 0 ? await control.acknowledgements(firing.map((a) => a.id)) : new Map<string, Acknowledgement>();
    return {
      alerts: firing.map((a) => {
        const k = acks.get(a.id);
        return { ...a, silenced_by: control.silencedBy(alerts.labelsOf(a)), acknowledged: k ? presentAck(k) : null };
      }),
    };
  });

  app.post<{ Params: { id: string }; Body: { comment?: string } | undefined }>('/api/alerts/:id/ack', {
    config: { role: 'admin' },
    schema: {
      params: idParam,
      body: { type: 'object', additionalProperties: false, properties: { comment: { type: 'string', maxLength: 2000 } } },
      response: { 200: ack, 404: errorBody },
    },
    // The comment is optional, and so is the body that would carry it.
    preValidation: async (req) => { if (req.body === undefined || req.body === null) req.body = {}; },
  }, async (req) => {
    const id = req.params.id;
    const actor = actorOf(req);
    if (!alerts.isFiring(id)) throw new AppError('NOT_FOUND', `alert ${id} is not firing`, { field: 'id' });
    const a = await control.acknowledge(id, actor, (req.body?.comment ?? '').trim());
    return { alert_id: a.alertId, ...presentAck(a) };
  });

  app.get<{ Querystring: { from?: string | number; to?: string | number; action?: string; actor?: string; limit?: number } }>('/api/audit', {
    config: { role: 'admin' },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          from: timeParam,
          to: timeParam,
          action: { type: 'string', maxLength: 128 },
          actor: { type: 'string', maxLength: 128 },
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
        },
      },
      response: { 200: { type: 'object', required: ['events'], properties: { events: { type: 'array', items: auditEvent } } } },
    },
  }, async (req) => {
    const q = req.query;
    const fromMs = parseTime(q.from, 'from');
    const toMs = parseTime(q.to, 'to');
    if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) throw new AppError('INVALID_ARGUMENT', 'from: must not be after to', { field: 'from' });
    const events = await control.listAudit({
      limit: q.limit ?? 200,
      ...(fromMs !== undefined ? { fromMs } : {}),
      ...(toMs !== undefined ? { toMs } : {}),
      ...(q.action ? { action: q.action } : {}),
      ...(q.actor ? { actor: q.actor } : {}),
    });
    return { events };
  });
}

/** The same routes as a plugin for HttpDeps.plugins. */
export const controlRoutesPlugin = (opts: ControlRoutesOptions): FastifyPluginAsync => async (app) => controlRoutes(app, opts);
