// The alerting use case: every batch (and a periodic tick) goes through the pure evaluator;
// each transition is then claimed, recorded and published:
//
//   claim     Cooldown.tryAcquire("claim:<event id>")  - event ids are deterministic, so when
//             several replicas evaluate the same batches only one of them goes on;
//   record    AlertHistory.writeAlertEvent             - a store failure is logged, not fatal;
//   cooldown  Cooldown.tryAcquire("cd:<state>:<rule>:<host>:<container>", ALERT_COOLDOWN)
//             - at most one notification per rule, container and lifecycle state per cooldown;
//   publish   AlertPublisher.publish                   - the Redis stream the notifiers read.
//
// Silences and acknowledgements (control.ts) gate the notification, never the record: a
// transition that an active silence matches is recorded and shown, but not published; every
// replica remembers it, and once the silence ends while it still fires, one replica (a claim
// on "late:<id>") notifies it then. A resolution whose firing was never notified, or that a
// silence matches, is not notified either (as Alertmanager does). With a repeat interval,
// alerts still firing are notified again (claim "repeat:<id>:<n>") unless acknowledged.
//
// When Redis is unreachable a step throws; the transition then waits in a bounded in-memory
// queue (oldest dropped and counted when full) together with the step it reached, and is
// retried on every tick, so it is published once Redis is back and never twice by this
// replica. health() reports 'degraded' while anything waits.
import {
  type ActiveAlert, type AlertState, type AlertEvent, type EvaluationInput, emptyAlertState, evaluate, firingAlerts, restartOfflineClocks,
} from '../domain/alerts/evaluate.js';
import type { AlertRuleSet, DefaultRuleSettings, RuleKind } from '../domain/alerts/rules.js';
import type { AlertLabels } from '../domain/silences.js';
import type { MetricBatch } from '../domain/types.js';
import type { AlertHistory, AlertPublisher, Cooldown } from './alert-ports.js';
import { type RulesDocument, buildRuleSet, toRulesDocument } from './alert-rules.js';
import type { Logger } from './ports.js';

export interface AlertingDeps {
  rules: AlertRuleSet;
  /** Defaults that PUT /api/alert-rules documents merge into (CPU_THRESHOLD, ...). */
  defaults: DefaultRuleSettings;
  cooldown: Cooldown;
  publisher: AlertPublisher;
  history: AlertHistory;
  log: Logger;
  now: () => number;
  /** ALERT_COOLDOWN in ms (default 5 min). */
  cooldownMs?: number;
  /** How long a claimed event id stays claimed (default 1 h). */
  claimTtlMs?: number;
  /** Transitions kept while Redis is down (default 1000). */
  queueLimit?: number;
  /** Key prefix for claims and cooldowns (default "dockwatch:"). */
  keyPrefix?: string;
  /**
   * True while this replica may be missing batches of other replicas' agents (the Redis
   * metrics bus is down): agent-offline checks pause, and restart their clocks afterwards.
   */
  offlineChecksPaused?: () => boolean;
  /** Called once per transition this replica claimed, e.g. for the alerts_fired counter. */
  onTransition?: (event: AlertEvent, silencedBy: string[]) => void;
  /** Called on every replica with every transition it evaluated (claimed or not), e.g. for autoheal. */
  observe?: (events: AlertEvent[]) => void;
  /** Active silences that mute an alert now (control.ts); none when absent. */
  silencedBy?: (a: AlertLabels) => string[];
  /** Whether a firing alert was acknowledged (the shared store, so any replica's ack counts). */
  isAcknowledged?: (alertId: string) => Promise<boolean>;
  /** ALERT_REPEAT_INTERVAL in ms: notify alerts still firing again this often; 0 = never. */
  repeatIntervalMs?: number;
}

export interface AlertingStats {
  fired: number;
  resolved: number;
  published: number;
  suppressed: number;
  /** Transitions recorded but not notified because a silence matched. */
  silenced: number;
  repeated: number;
  queued: number;
  dropped: number;
}

export interface AlertingHealth {
  status: 'ok' | 'degraded';
  reason?: string;
  queued: number;
}

export interface AlertEngine {
  /** Evaluates one batch. Never throws: failures to deliver end up in the queue. */
  onBatch(batch: MetricBatch): Promise<void>;
  /** Checks for silent agents and retries the queue; call it every few seconds. */
  tick(): Promise<void>;
  getRules(): RulesDocument;
  /** Validates and swaps the rules; a bad document throws INVALID_ARGUMENT and the old rules stay. */
  replaceRules(doc: unknown): RulesDocument;
  ruleSet(): AlertRuleSet;
  firing(): AlertEvent[];
  isFiring(alertId: string): boolean;
  /** What silences match on: rule, severity, host, container name and id, Docker labels. */
  labelsOf(e: Pick<AlertEvent, 'ruleId' | 'severity' | 'host' | 'containerId' | 'containerName'>): AlertLabels;
  /** The agent that last reported a host (commands go to it). */
  agentOf(host: string): string | undefined;
  ruleKind(ruleId: string): RuleKind | undefined;
  /** Runs transitions made elsewhere (e.g. "autoheal gave up") through the same claim, record, gate, publish. */
  inject(events: AlertEvent[]): Promise<void>;
  health(): AlertingHealth;
  stats(): AlertingStats;
}

type Step = 'claim' | 'record' | 'cooldown' | 'publish';
// muted: not to be notified (a matching silence, or a resolution whose firing was never notified).
interface Pending { event: AlertEvent; step: Step; silencedBy: string[]; muted: boolean }

const toFiringEvent = (a: ActiveAlert): AlertEvent => ({
  id: `${a.idBase}|firing`, ruleId: a.ruleId, severity: a.severity, state: 'firing', host: a.host,
  containerId: a.containerId, containerName: a.containerName, value: a.value, threshold: a.threshold,
  message: a.message, timestampMs: a.sinceMs, ...(a.context ? { context: a.context } : {}),
});

export function createAlertEngine(deps: AlertingDeps): AlertEngine {
  const prefix = deps.keyPrefix ?? 'dockwatch:';
  const cooldownMs = deps.cooldownMs ?? 5 * 60_000;
  const claimTtlMs = deps.claimTtlMs ?? 3_600_000;
  const queueLimit = Math.max(1, deps.queueLimit ?? 1000);
  let rules = deps.rules;
  let state: AlertState = emptyAlertState();
  const queue: Pending[] = [];
  // What this replica itself notified, and until when: a Redis restart forgets its keys, this
  // memory does not, so a flapping alert is not sent again just because Redis lost its data.
  const sentUntil = new Map<string, number>();
  let lastError: string | undefined;
  let draining: Promise<void> | null = null;
  let offlinePaused = false;
  const stats: AlertingStats = { fired: 0, resolved: 0, published: 0, suppressed: 0, silenced: 0, repeated: 0, queued: 0, dropped: 0 };
  // Firing alerts a silence held back, by event id: every replica keeps them (see the top).
  const held = new Map<string, AlertEvent>();
  // The last repeat number this replica handled per firing alert id.
  const repeatsDone = new Map<string, number>();
  const repeatMs = deps.repeatIntervalMs ?? 0;

  // Runs one transition from `step` on; returns the step it failed at (to resume from), or null when done.
  async function advance(p: Pending): Promise<Step | null> {
    const failedAt = await attempt(p);
    // Any complete pass proves Redis answers again, whichever way the pass ended.
    if (failedAt === null) lastError = undefined;
    return failedAt;
  }

  async function attempt(p: Pending): Promise<Step | null> {
    const e = p.event;
    let step = p.step;
    try {
      if (step === 'claim') {
        if (!(await deps.cooldown.tryAcquire(`${prefix}claim:${e.id}`, claimTtlMs))) return null;
        if (e.state === 'firing') stats.fired++;
        else stats.resolved++;
        deps.onTransition?.(e, p.silencedBy);
        step = 'record';
      }
      if (step === 'record') {
        try {
          await deps.history.writeAlertEvent(e);
        } catch (err) {
          deps.log.warn({ err, alertId: e.id }, 'alert history write failed');
        }
        step = 'cooldown';
      }
      if (step === 'cooldown') {
        if (p.muted) {
          stats.silenced++;
          deps.log.info({ alertId: e.id, silences: p.silencedBy }, 'alert silenced: recorded, not notified');
          return null;
        }
        const key = `${prefix}cd:${e.state}:${e.ruleId}:${e.host}:${e.containerId}`;
        const now = deps.now();
        if ((sentUntil.get(key) ?? 0) > now || !(await deps.cooldown.tryAcquire(key, cooldownMs))) {
          stats.suppressed++;
          deps.log.info({ alertId: e.id }, 'alert notification suppressed by cooldown');
          return null;
        }
        if (sentUntil.size > 10_000) for (const [k, t] of sentUntil) if (t <= now) sentUntil.delete(k);
        sentUntil.set(key, now + cooldownMs);
        step = 'publish';
      }
      await deps.publisher.publish(e);
      stats.published++;
      return null;
    } catch (err) {
      lastError = `alert delivery unavailable: ${(err as Error).message}`;
      return step;
    }
  }

  function enqueue(p: Pending): void {
    if (queue.length >= queueLimit) {
      queue.shift();
      stats.dropped++;
    }
    queue.push(p);
  }

  const labelsOf = (e: Pick<AlertEvent, 'ruleId' | 'severity' | 'host' | 'containerId' | 'containerName'>): AlertLabels => ({
    alertname: e.ruleId, severity: e.severity, host: e.host, container: e.containerName, container_id: e.containerId,
    labels: state.hosts[e.host]?.containers[e.containerId]?.labels ?? {},
  });
  const mutedBy = (e: AlertEvent): string[] => deps.silencedBy?.(labelsOf(e)) ?? [];

  /** Whether (and by which silences) this transition is kept from being notified; remembers held firings. */
  function gate(e: AlertEvent): Pending {
    const silencedBy = mutedBy(e);
    if (e.state === 'firing') {
      if (silencedBy.length > 0) held.set(e.id, e);
      return { event: e, step: 'claim', silencedBy, muted: silencedBy.length > 0 };
    }
    const firingId = e.id.replace(/\|resolved$/, '|firing');
    repeatsDone.delete(firingId);
    const neverNotified = held.delete(firingId);
    return { event: e, step: 'claim', silencedBy, muted: neverNotified || silencedBy.length > 0 };
  }

  async function run1(p: Pending): Promise<void> {
    // Keep order behind anything already queued.
    if (queue.length > 0) { enqueue(p); return; }
    const failedAt = await advance(p);
    if (failedAt) {
      deps.log.warn({ alertId: p.event.id, reason: lastError }, 'alert queued until Redis is back');
      enqueue({ ...p, step: failedAt });
    }
  }

  async function handle(events: AlertEvent[]): Promise<void> {
    if (events.length > 0) deps.observe?.(events);
    for (const event of events) {
      deps.log.info({ alertId: event.id, state: event.state, host: event.host, container: event.containerName }, event.message);
      await run1(gate(event));
    }
  }

  const isFiring = (id: string): boolean => {
    // id = <key>|<fired at>|firing, key = <rule>|<host>|<container>
    const base = id.replace(/\|firing$/, '');
    const a = state.alerts[base.slice(0, base.lastIndexOf('|'))];
    return a !== undefined && a.firing && `${a.idBase}|firing` === id;
  };

  /** Held firings whose silence ended: one replica notifies each (claim "late:<id>"). */
  async function releaseHeld(): Promise<void> {
    for (const [id, e] of held) {
      if (!isFiring(id)) { held.delete(id); continue; }
      if (mutedBy(e).length > 0) continue;
      held.delete(id);
      try {
        if (!(await deps.cooldown.tryAcquire(`${prefix}late:${id}`, claimTtlMs))) continue;
      } catch {
        held.set(id, e); // Redis down: try again next tick
        continue;
      }
      deps.log.info({ alertId: id }, 'silence ended while the alert still fires: notifying it now');
      await run1({ event: e, step: 'cooldown', silencedBy: [], muted: false });
    }
  }

  /** Reminders for alerts still firing, not silenced and not acknowledged. */
  async function repeatFiring(): Promise<void> {
    if (repeatMs <= 0) return;
    const now = deps.now();
    for (const a of firingAlerts(state)) {
      const id = `${a.idBase}|firing`;
      if (held.has(id)) continue;
      const firedAt = Number(a.idBase.slice(a.idBase.lastIndexOf('|') + 1)) || a.sinceMs;
      const n = Math.floor((now - firedAt) / repeatMs);
      if (n < 1 || (repeatsDone.get(id) ?? 0) >= n) continue;
      repeatsDone.set(id, n);
      try {
        if (deps.isAcknowledged && await deps.isAcknowledged(id)) continue;
        if (!(await deps.cooldown.tryAcquire(`${prefix}repeat:${id}:${n}`, claimTtlMs))) continue;
        const event = toFiringEvent(a);
        await deps.publisher.publish({ ...event, message: `still firing (reminder ${n}): ${event.message}` });
        stats.repeated++;
      } catch (err) {
        repeatsDone.set(id, n - 1);
        deps.log.warn({ err, alertId: id }, 'alert reminder not sent; next tick retries');
      }
    }
    if (repeatsDone.size > 10_000) for (const id of repeatsDone.keys()) if (!isFiring(id)) repeatsDone.delete(id);
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const head = queue[0]!;
      const failedAt = await advance(head);
      if (failedAt) { head.step = failedAt; return; }
      queue.shift();
    }
  }

  const run = (input: EvaluationInput): AlertEvent[] => {
    const r = evaluate(state, input, rules);
    state = r.state;
    return r.transitions;
  };

  return {
    async onBatch(batch) {
      await handle(run({ batch, nowMs: deps.now() }));
    },
    async tick() {
      const paused = deps.offlineChecksPaused?.() ?? false;
      if (offlinePaused && !paused) state = restartOfflineClocks(state, deps.now());
      offlinePaused = paused;
      const transitions = paused ? [] : run({ tick: true, nowMs: deps.now() });
      if (!draining) draining = drain().finally(() => { draining = null; });
      await draining;
      await handle(transitions);
      await releaseHeld();
      await repeatFiring();
    },
    getRules: () => toRulesDocument(rules),
    replaceRules(doc) {
      const next = buildRuleSet(doc, deps.defaults);
      rules = next;
      deps.log.info({ rules: next.rules.length, overrides: next.overrides.length }, 'alert rules replaced');
      return toRulesDocument(next);
    },
    ruleSet: () => rules,
    firing: () => firingAlerts(state).map(toFiringEvent),
    isFiring,
    labelsOf,
    agentOf: (host) => state.hosts[host]?.agentId,
    ruleKind: (id) => rules.rules.find((r) => r.id === id)?.kind,
    inject: (events) => handle(events),
    health: () => (queue.length > 0 || lastError
      ? { status: 'degraded', reason: lastError ?? 'alerts waiting for Redis', queued: queue.length }
      : { status: 'ok', queued: 0 }),
    stats: () => ({ ...stats, queued: queue.length }),
  };
}
