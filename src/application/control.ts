// Operator actions on alerts: silences (create, list, expire), acknowledgements, and the audit
// trail every action writes to. Validation happens here, so the HTTP edge and any other caller
// get the same 400 naming the field, and nothing is stored when input is bad.
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import type { Acknowledgement, AuditEvent, AuditOutcome, Matcher, Silence, SilenceStatus } from '../domain/control.js';
import {
  type AlertLabels, LABEL_PREFIX, MATCHER_NAMES, compileMatcherRegex, matchesEverything, silenceStatus, silencedBy,
} from '../domain/silences.js';
import type { AuditQuery, ControlStore } from './control-ports.js';
import { AppError, invalidArgument, notFound } from './errors.js';
import type { Logger } from './ports.js';

export interface ControlDeps {
  store: ControlStore;
  now: () => number;
  newId: () => string;
  log: Logger;
  /** Rule ids in force, so a silence naming an unknown rule is refused. */
  ruleIds: () => string[];
}

export type AuditInput = Omit<AuditEvent, 'id' | 'atMs'> & { atMs?: number };

export interface SilenceView extends Silence { status: SilenceStatus }

export interface Control {
  createSilence(input: unknown, actor: string): Promise<SilenceView>;
  expireSilence(id: string, actor: string): Promise<SilenceView>;
  /** Pending and active silences, plus those that ended within the last `expiredWithinMs` (default 24 h). */
  listSilences(opts?: { expiredWithinMs?: number }): Promise<SilenceView[]>;
  /** Active silences muting this alert now, from the cache (refresh() keeps it current). */
  silencedBy(a: AlertLabels): string[];
  /** Re-reads the silences, e.g. every tick, so other replicas' changes arrive. */
  refresh(): Promise<void>;
  /** The caller checks that the alert is firing; a second acknowledgement keeps the first. */
  acknowledge(alertId: string, actor: string, comment: string): Promise<Acknowledgement>;
  acknowledgements(alertIds: readonly string[]): Promise<Map<string, Acknowledgement>>;
  /** Best effort: a failed audit write is logged, never fails the action that was done. */
  audit(e: AuditInput): Promise<void>;
  listAudit(q: AuditQuery): Promise<AuditEvent[]>;
}

const MAX_SILENCE_MS = 366 * 86_400_000;

const matcherSchema = z.strictObject({
  name: z.string().min(1).max(128),
  op: z.enum(['=', '!=', '=~', '!~']).default('='),
  value: z.string().max(1024),
});

const time = z.union([z.number().int().nonnegative(), z.string().min(1).max(40)]);

const silenceSchema = z.strictObject({
  matchers: z.array(matcherSchema).min(1).max(32),
  starts_at: time.optional(),
  ends_at: time.optional(),
  duration: z.string().max(20).optional(),
  comment: z.string().trim().min(1, 'a comment is required (why is it silenced?)').max(2000),
  force: z.boolean().optional(),
});

/** ISO date, epoch ms, `now`, or `+2h` relative to now. */
function parseTime(v: string | number, now: number, field: string): number {
  if (typeof v === 'number') return v;
  if (v === 'now') return now;
  if (v.startsWith('+')) {
    const d = parseDuration(v.slice(1));
    if (d !== null) return now + d;
  }
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw invalidArgument(field, `not a time: ${JSON.stringify(v)} (ISO 8601, epoch ms, now, or +2h)`);
  return t;
}

export function createControl(deps: ControlDeps): Control {
  let cache: Silence[] = [];

  const view = (s: Silence): SilenceView => ({ ...s, status: silenceStatus(s, deps.now()) });

  function validateMatchers(ms: z.infer<typeof matcherSchema>[]): Matcher[] {
    const rules = new Set(deps.ruleIds());
    return ms.map((m, i) => {
      const field = `matchers.${i}`;
      const known = (MATCHER_NAMES as readonly string[]).includes(m.name)
        || (m.name.startsWith(LABEL_PREFIX) && m.name.length > LABEL_PREFIX.length);
      if (!known) throw invalidArgument(`${field}.name`, `unknown matcher name "${m.name}" (use ${MATCHER_NAMES.join(', ')} or label.<key>)`);
      if (m.op === '=~' || m.op === '!~') {
        try { compileMatcherRegex(m.value); } catch (err) { throw invalidArgument(`${field}.value`, `bad regular expression: ${(err as Error).message}`); }
      }
      if (m.name === 'alertname' && m.op === '=' && !/[*?[]/.test(m.value) && !rules.has(m.value)) {
        throw invalidArgument(`${field}.value`, `unknown rule id "${m.value}"`);
      }
      if (m.name === 'severity' && m.op === '=' && !['warning', 'critical', '*'].includes(m.value)) {
        throw invalidArgument(`${field}.value`, 'severity is warning or critical');
      }
      return { name: m.name, op: m.op, value: m.value };
    });
  }

  const audit = async (e: AuditInput): Promise<void> => {
    const event: AuditEvent = { id: deps.newId(), atMs: e.atMs ?? deps.now(), actor: e.actor, action: e.action, target: e.target, outcome: e.outcome, details: e.details };
    try {
      await deps.store.appendAudit(event);
    } catch (err) {
      deps.log.error({ err, action: e.action, target: e.target }, 'audit write failed');
    }
  };

  const refresh = async (): Promise<void> => {
    cache = await deps.store.listSilences(deps.now());
  };

  return {
    async createSilence(input, actor) {
      const r = silenceSchema.safeParse(input ?? {});
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const field = issue.path.map(String).join('.') || '(body)';
        throw invalidArgument(field, issue.message);
      }
      const d = r.data;
      const now = deps.now();
      const matchers = validateMatchers(d.matchers);
      if (!d.force && matchesEverything(matchers)) {
        throw invalidArgument('matchers', 'these matchers silence every alert; set "force": true if that is really meant');
      }
      const startsAtMs = d.starts_at === undefined ? now : parseTime(d.starts_at, now, 'starts_at');
      if (d.ends_at !== undefined && d.duration !== undefined) throw invalidArgument('duration', 'give ends_at or duration, not both');
      let endsAtMs: number;
      if (d.duration !== undefined) {
        const ms = parseDuration(d.duration);
        if (ms === null || ms <= 0) throw invalidArgument('duration', `not a positive duration: ${JSON.stringify(d.duration)}`);
        endsAtMs = startsAtMs + ms;
      } else if (d.ends_at !== undefined) {
        endsAtMs = parseTime(d.ends_at, now, 'ends_at');
      } else {
        throw invalidArgument('ends_at', 'required (or duration)');
      }
      if (endsAtMs <= startsAtMs) throw invalidArgument('ends_at', 'must be after starts_at');
      if (endsAtMs <= now) throw invalidArgument('ends_at', 'is in the past');
      if (endsAtMs - startsAtMs > MAX_SILENCE_MS) throw invalidArgument('ends_at', 'a silence lasts at most a year');
      const s: Silence = {
        id: deps.newId(), matchers, startsAtMs, endsAtMs, comment: d.comment, createdBy: actor, createdAtMs: now, updatedAtMs: now,
      };
      await deps.store.putSilence(s);
      await audit({ actor, action: 'silence.create', target: s.id, outcome: 'ok', details: { matchers, startsAtMs, endsAtMs, comment: s.comment, ...(d.force ? { force: true } : {}) } });
      await refresh().catch(() => undefined);
      return view(s);
    },

    async expireSilence(id, actor) {
      const s = await deps.store.getSilence(id);
      if (!s) throw notFound(`silence ${id}`);
      const now = deps.now();
      if (silenceStatus(s, now) === 'expired') throw new AppError('CONFLICT', `silence ${id} has already expired`, { field: 'id' });
      const next: Silence = { ...s, endsAtMs: now, startsAtMs: Math.min(s.startsAtMs, now), expiredBy: actor, updatedAtMs: now };
      await deps.store.putSilence(next);
      await audit({ actor, action: 'silence.expire', target: id, outcome: 'ok', details: { matchers: s.matchers, wasEndingAtMs: s.endsAtMs } });
      await refresh().catch(() => undefined);
      return view(next);
    },

    async listSilences(opts = {}) {
      const since = deps.now() - (opts.expiredWithinMs ?? 86_400_000);
      return (await deps.store.listSilences(since)).map(view);
    },

    silencedBy: (a) => silencedBy(cache, a, deps.now()),
    refresh,

    async acknowledge(alertId, actor, comment) {
      if (comment.length > 2000) throw invalidArgument('comment', 'at most 2000 characters');
      const mine: Acknowledgement = { alertId, by: actor, atMs: deps.now(), comment };
      const ack = await deps.store.acknowledge(mine);
      const outcome: AuditOutcome = ack.by === mine.by && ack.atMs === mine.atMs ? 'ok' : 'refused';
      await audit({ actor, action: 'alert.ack', target: alertId, outcome, details: outcome === 'ok' ? { comment } : { reason: `already acknowledged by ${ack.by}` } });
      return ack;
    },
    acknowledgements: (ids) => deps.store.getAcks(ids),
    audit,
    listAudit: (q) => deps.store.listAudit(q),
  };
}
