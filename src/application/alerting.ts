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
// When Redis is unreachable a step throws; the transition then waits in a bounded in-memory
// queue (oldest dropped and counted when full) together with the step it reached, and is
// retried on every tick, so it is published once Redis is back and never twice by this
// replica. health() reports 'degraded' while anything waits.
import {
  type AlertState, type AlertEvent, type EvaluationInput, emptyAlertState, evaluate, firingAlerts, restartOfflineClocks,
} from '../domain/alerts/evaluate.js';
import type { AlertRuleSet, DefaultRuleSettings } from '../domain/alerts/rules.js';
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
  onTransition?: (event: AlertEvent) => void;
}

export interface AlertingStats {
  fired: number;
  resolved: number;
  published: number;
  suppressed: number;
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
  health(): AlertingHealth;
  stats(): AlertingStats;
}

type Step = 'claim' | 'record' | 'cooldown' | 'publish';
interface Pending { event: AlertEvent; step: Step }

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
  const stats: AlertingStats = { fired: 0, resolved: 0, published: 0, suppressed: 0, queued: 0, dropped: 0 };

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
        deps.onTransition?.(e);
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

  async function handle(events: AlertEvent[]): Promise<void> {
    for (const event of events) {
      deps.log.info({ alertId: event.id, state: event.state, host: event.host, container: event.containerName }, event.message);
      // Keep order behind anything already queued.
      if (queue.length > 0) { enqueue({ event, step: 'claim' }); continue; }
      const failedAt = await advance({ event, step: 'claim' });
      if (failedAt) {
        deps.log.warn({ alertId: event.id, reason: lastError }, 'alert queued until Redis is back');
        enqueue({ event, step: failedAt });
      }
    }
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
    },
    getRules: () => toRulesDocument(rules),
    replaceRules(doc) {
      const next = buildRuleSet(doc, deps.defaults);
      rules = next;
      deps.log.info({ rules: next.rules.length, overrides: next.overrides.length }, 'alert rules replaced');
      return toRulesDocument(next);
    },
    ruleSet: () => rules,
    firing: () => firingAlerts(state).map((a) => ({
      id: `${a.idBase}|firing`, ruleId: a.ruleId, severity: a.severity, state: 'firing' as const, host: a.host,
      containerId: a.containerId, containerName: a.containerName, value: a.value, threshold: a.threshold,
      message: a.message, timestampMs: a.sinceMs, ...(a.context ? { context: a.context } : {}),
    })),
    health: () => (queue.length > 0 || lastError
      ? { status: 'degraded', reason: lastError ?? 'alerts waiting for Redis', queued: queue.length }
      : { status: 'ok', queued: 0 }),
    stats: () => ({ ...stats, queued: queue.length }),
  };
}
