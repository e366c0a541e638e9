// Autoheal: restart a container that opted in when its unhealthy / stopped / oom alert fires.
//
// Every replica sees every transition (observe) and keeps the containers it may have to heal;
// each restart is claimed (Cooldown key "autoheal:<host>:<container>:<n>", n = attempts so
// far + 1), so exactly one replica sends it even when several evaluate the same batches. The
// history the policy reads (attempts, host rate, give-up marker) is in the shared ControlStore.
// The command goes to the agent that reports the host, which answers with an event carrying
// the outcome (onResult, claimed per command id). Every step is audited and announced.
import { LABEL_AUTOHEAL, TRIGGER_OF_RULE_KIND, decideAutoheal, givenUpCleared, parseAutohealValue, type AutohealLimits } from '../domain/autoheal.js';
import type { AgentCommandResult, AutohealAttempt, AutohealTrigger } from '../domain/control.js';
import { globMatch } from '../domain/alerts/glob.js';
import type { AlertRuleSet } from '../domain/alerts/rules.js';
import type { AlertEvent } from '../domain/alerts/evaluate.js';
import type { AlertLabels } from '../domain/silences.js';
import type { ActionNotice, Cooldown } from './alert-ports.js';
import type { AgentCommander, ContainerKey, ControlStore } from './control-ports.js';
import type { AuditInput } from './control.js';
import type { Logger } from './ports.js';

export const AUTOHEAL_GAVE_UP_RULE = 'autoheal_gave_up';

export interface AutohealDeps {
  /** AUTOHEAL: false forbids every restart. */
  enabled: boolean;
  limits: AutohealLimits;
  restartTimeoutSec: number;
  store: Pick<ControlStore, 'autohealAttempts' | 'putAutohealAttempt' | 'hostAutohealTimes' | 'getGaveUp' | 'setGaveUp'>;
  commander: AgentCommander;
  claim: Cooldown;
  alerts: {
    isFiring(alertId: string): boolean;
    labelsOf(e: AlertEvent): AlertLabels;
    agentOf(host: string): string | undefined;
    ruleSet(): AlertRuleSet;
    firing(): AlertEvent[];
    inject(events: AlertEvent[]): Promise<void>;
  };
  audit: (e: AuditInput) => Promise<void>;
  /** To every channel and /ws. */
  announce: (n: ActionNotice) => void;
  log: Logger;
  now: () => number;
  newId: () => string;
  keyPrefix?: string;
}

export interface Autoheal {
  /** Every transition this replica evaluated, claimed or not. */
  observe(events: AlertEvent[]): void;
  /** Acts on what is due; call it every few seconds. */
  tick(): Promise<void>;
  /** An agent's answer to a command (from the batch that carried it). */
  onResult(host: string, containerName: string, r: AgentCommandResult): Promise<void>;
  stats(): { wanted: number; restarts: number; gaveUp: number };
}

interface Wanted { key: ContainerKey; event: AlertEvent; trigger: AutohealTrigger; dueMs: number; sent: number }
interface GivenUp { key: ContainerKey; name: string; atMs: number; wellSinceMs?: number }

const keyStr = (k: ContainerKey): string => `${k.host}:${k.containerId}`;

export function createAutoheal(deps: AutohealDeps): Autoheal {
  const prefix = deps.keyPrefix ?? 'dockwatch:';
  const wanted = new Map<string, Wanted>();
  const givenUp = new Map<string, GivenUp>();
  const badLabels = new Set<string>();
  // Commands this replica sent, until their outcome is known: an agent that dies mid-restart
  // must not leave an attempt "pending" forever without a word in the audit trail.
  const inFlight = new Map<string, { key: ContainerKey; name: string; deadlineMs: number }>();
  const counts = { restarts: 0, gaveUp: 0 };
  let disabledLogged = false;

  /** The triggers a container opted into: its label wins (also to opt out), then overrides, then the rule's action. */
  function optedIn(e: AlertEvent, trigger: AutohealTrigger): boolean {
    const labels = deps.alerts.labelsOf(e).labels;
    const raw = labels[LABEL_AUTOHEAL];
    if (raw !== undefined) {
      try {
        return parseAutohealValue(raw).has(trigger);
      } catch (err) {
        const k = `${e.host}:${e.containerId}:${raw}`;
        if (!badLabels.has(k)) {
          badLabels.add(k);
          deps.log.warn({ host: e.host, container: e.containerName, label: LABEL_AUTOHEAL, value: raw }, `autoheal label ignored: ${(err as Error).message}`);
        }
        return false;
      }
    }
    const rules = deps.alerts.ruleSet();
    let fromOverride: boolean | undefined;
    for (const o of rules.overrides) {
      if (o.autoheal === undefined || !globMatch(o.match, e.containerName) || (o.host !== undefined && !globMatch(o.host, e.host))) continue;
      fromOverride = o.autoheal.includes(trigger);
    }
    if (fromOverride !== undefined) return fromOverride;
    return rules.rules.find((r) => r.id === e.ruleId)?.action === 'restart';
  }

  function observe(events: AlertEvent[]): void {
    for (const e of events) {
      const kind = deps.alerts.ruleSet().rules.find((r) => r.id === e.ruleId)?.kind;
      const trigger = kind ? TRIGGER_OF_RULE_KIND[kind] : undefined;
      // value -1: the container vanished; there is nothing left to restart.
      if (!trigger || e.containerId === '' || e.value === -1) continue;
      const key = { host: e.host, containerId: e.containerId };
      const k = keyStr(key);
      if (e.state === 'resolved') {
        if (wanted.get(k)?.event.id.replace(/\|firing$/, '') === e.id.replace(/\|resolved$/, '')) wanted.delete(k);
        continue;
      }
      if (!optedIn(e, trigger)) continue;
      if (!deps.enabled) {
        if (!disabledLogged) deps.log.info({ container: e.containerName }, 'autoheal is off (AUTOHEAL=off): no container is restarted');
        disabledLogged = true;
        continue;
      }
      wanted.set(k, { key, event: e, trigger, dueMs: deps.now(), sent: wanted.get(k)?.sent ?? 0 });
    }
  }

  const notice = (w: { key: ContainerKey; name: string }, action: string, outcome: string, message: string): ActionNotice => ({
    action, outcome, host: w.key.host, containerId: w.key.containerId, containerName: w.name, message, timestampMs: deps.now(),
  });

  async function restart(w: Wanted, attempt: number, total: number): Promise<void> {
    const { key, event } = w;
    if (!(await deps.claim.tryAcquire(`${prefix}autoheal:${keyStr(key)}:${total + 1}`, 86_400_000))) {
      w.dueMs = deps.now() + 2000; // another replica took it; re-read the history then
      return;
    }
    const cmd = {
      id: deps.newId(), kind: 'restart' as const, containerId: key.containerId, containerName: event.containerName,
      timeoutSec: deps.restartTimeoutSec, reason: `${w.trigger}: ${event.message}`,
    };
    const a: AutohealAttempt = { commandId: cmd.id, atMs: deps.now(), trigger: w.trigger, outcome: 'pending' };
    await deps.store.putAutohealAttempt(key, a);
    counts.restarts++;
    w.sent++;
    const agentId = deps.alerts.agentOf(key.host);
    const sent = agentId !== undefined && await deps.commander.send(agentId, cmd).catch(() => false);
    const what = `container ${event.containerName} on host ${key.host} (attempt ${attempt} of ${deps.limits.maxRestarts}, ${w.trigger})`;
    const n = { key, name: event.containerName };
    if (!sent) {
      const error = `agent ${agentId ?? '(unknown)'} is not connected or cannot take commands`;
      await deps.store.putAutohealAttempt(key, { ...a, outcome: 'failed', error });
      await deps.audit({ actor: 'autoheal', action: 'autoheal.restart', target: `${key.host}/${event.containerName}`, outcome: 'failed',
        details: { containerId: key.containerId, commandId: cmd.id, attempt, trigger: w.trigger, error } });
      deps.announce(notice(n, 'autoheal.restart', 'failed', `Dockwatch autoheal could not restart ${what}: ${error}`));
      return;
    }
    inFlight.set(cmd.id, { key, name: event.containerName, deadlineMs: deps.now() + (deps.restartTimeoutSec + 90) * 1000 });
    deps.log.info({ host: key.host, container: event.containerName, commandId: cmd.id, attempt }, 'autoheal: restart requested');
    deps.announce(notice(n, 'autoheal.restart', 'requested', `Dockwatch autoheal: restarting ${what}`));
  }

  async function giveUp(w: Wanted, reason: string, total: number): Promise<void> {
    const { key, event } = w;
    wanted.delete(keyStr(key));
    if (!(await deps.claim.tryAcquire(`${prefix}autoheal-gaveup:${keyStr(key)}:${total}`, 86_400_000))) return;
    const at = deps.now();
    await deps.store.setGaveUp(key, at);
    counts.gaveUp++;
    givenUp.set(keyStr(key), { key, name: event.containerName, atMs: at });
    await deps.audit({ actor: 'autoheal', action: 'autoheal.gave_up', target: `${key.host}/${event.containerName}`, outcome: 'failed',
      details: { containerId: key.containerId, reason, trigger: w.trigger } });
    deps.announce(notice({ key, name: event.containerName }, 'autoheal.gave_up', 'failed',
      `Dockwatch autoheal gave up on container ${event.containerName} on host ${key.host}: ${reason}`));
    await deps.alerts.inject([gaveUpAlert(key, event.containerName, at, 'firing', reason, total, deps.limits.maxRestarts)]);
  }

  async function process(w: Wanted): Promise<void> {
    if (!deps.alerts.isFiring(w.event.id)) { wanted.delete(keyStr(w.key)); return; }
    const now = deps.now();
    const [attempts, hostAttemptsMs, gaveUpAtMs] = await Promise.all([
      deps.store.autohealAttempts(w.key), deps.store.hostAutohealTimes(w.key.host, now - 60_000), deps.store.getGaveUp(w.key),
    ]);
    const d = decideAutoheal({ attempts, hostAttemptsMs, ...(gaveUpAtMs !== null ? { gaveUpAtMs } : {}) }, now, deps.limits);
    switch (d.action) {
      case 'restart': return restart(w, d.attempt, attempts.length);
      case 'wait': w.dueMs = d.untilMs; return;
      case 'give_up': return giveUp(w, d.reason, attempts.length);
      case 'stay_given_up':
        wanted.delete(keyStr(w.key));
        if (!givenUp.has(keyStr(w.key))) givenUp.set(keyStr(w.key), { key: w.key, name: w.event.containerName, atMs: gaveUpAtMs ?? now });
        return;
    }
  }

  /** A container autoheal gave up on is healed again once it stays well (no trigger alert) for stableMs. */
  async function checkGivenUp(): Promise<void> {
    if (givenUp.size === 0) return;
    const now = deps.now();
    const failing = new Set(deps.alerts.firing()
      .filter((e) => e.ruleId !== AUTOHEAL_GAVE_UP_RULE)
      .map((e) => `${e.host}:${e.containerId}`));
    for (const [k, g] of givenUp) {
      if (failing.has(k)) { g.wellSinceMs = undefined; continue; }
      g.wellSinceMs ??= now;
      if (!givenUpCleared({ gaveUpAtMs: g.atMs, wellSinceMs: g.wellSinceMs }, now, deps.limits)) continue;
      givenUp.delete(k);
      if (!(await deps.claim.tryAcquire(`${prefix}autoheal-cleared:${k}:${g.atMs}`, 86_400_000))) continue;
      await deps.store.setGaveUp(g.key, null);
      await deps.audit({ actor: 'autoheal', action: 'autoheal.resumed', target: `${g.key.host}/${g.name}`, outcome: 'ok',
        details: { containerId: g.key.containerId, wellForMs: now - g.wellSinceMs } });
      await deps.alerts.inject([gaveUpAlert(g.key, g.name, g.atMs, 'resolved', 'the container stayed well', 0, deps.limits.maxRestarts, now)]);
    }
  }

  async function expireInFlight(): Promise<void> {
    const now = deps.now();
    for (const [id, f] of inFlight) {
      if (f.deadlineMs > now) continue;
      inFlight.delete(id);
      const a = (await deps.store.autohealAttempts(f.key)).find((x) => x.commandId === id);
      if (!a || a.outcome !== 'pending') continue;
      await onResult(f.key.host, f.name, { commandId: id, containerId: f.key.containerId, outcome: 'failed', error: 'no answer from the agent in time', durationMs: now - a.atMs });
    }
  }

  async function onResult(host: string, containerName: string, r: AgentCommandResult): Promise<void> {
    inFlight.delete(r.commandId);
    if (!(await deps.claim.tryAcquire(`${prefix}autoheal-result:${r.commandId}`, 86_400_000))) return;
    const key = { host, containerId: r.containerId };
    const attempts = await deps.store.autohealAttempts(key);
    const a = attempts.find((x) => x.commandId === r.commandId);
    if (a) await deps.store.putAutohealAttempt(key, { ...a, outcome: r.outcome, ...(r.error ? { error: r.error } : {}) });
    const attempt = a ? attempts.filter((x) => x.atMs > a.atMs - deps.limits.windowMs && x.atMs <= a.atMs && x.outcome !== 'refused').length : undefined;
    await deps.audit({ actor: 'autoheal', action: 'autoheal.restart', target: `${host}/${containerName}`,
      outcome: r.outcome === 'restarted' ? 'ok' : r.outcome,
      details: { containerId: r.containerId, commandId: r.commandId, durationMs: r.durationMs, ...(a ? { trigger: a.trigger, attempt } : {}), ...(r.error ? { error: r.error } : {}) } });
    const msg = r.outcome === 'restarted'
      ? `Dockwatch autoheal restarted container ${containerName} on host ${host} in ${(r.durationMs / 1000).toFixed(1)}s`
      : `Dockwatch autoheal: restart of container ${containerName} on host ${host} ${r.outcome}: ${r.error ?? 'no reason given'}`;
    deps.announce(notice({ key, name: containerName }, 'autoheal.restart', r.outcome === 'restarted' ? 'ok' : r.outcome, msg));
  }

  return {
    observe,
    async tick() {
      const now = deps.now();
      // Containers restarted least go first, so retries cannot starve others of the host limit.
      const due = [...wanted.values()].filter((w) => w.dueMs <= now).sort((a, b) => a.sent - b.sent || a.dueMs - b.dueMs);
      for (const w of due) {
        try {
          await process(w);
        } catch (err) {
          w.dueMs = now + 5000;
          deps.log.warn({ err, host: w.key.host, container: w.event.containerName }, 'autoheal step failed; retrying in 5 s');
        }
      }
      await checkGivenUp().catch((err) => deps.log.warn({ err }, 'autoheal give-up check failed'));
      await expireInFlight().catch((err) => deps.log.warn({ err }, 'autoheal command expiry failed'));
    },
    onResult,
    stats: () => ({ wanted: wanted.size, ...counts }),
  };
}

/** The critical alert autoheal raises when it stops trying; its id is the same on every replica. */
function gaveUpAlert(key: ContainerKey, name: string, atMs: number, state: 'firing' | 'resolved', reason: string,
  value: number, threshold: number, nowMs = atMs): AlertEvent {
  return {
    id: `${AUTOHEAL_GAVE_UP_RULE}|${key.host}|${key.containerId}|${atMs}|${state}`, ruleId: AUTOHEAL_GAVE_UP_RULE, severity: 'critical',
    state, host: key.host, containerId: key.containerId, containerName: name, value, threshold,
    message: state === 'firing'
      ? `autoheal gave up on container ${name} on host ${key.host}: ${reason}`
      : `resolved: autoheal resumes for container ${name} on host ${key.host} (${reason})`,
    timestampMs: nowMs,
  };
}
