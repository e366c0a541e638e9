// The alert state machine: pending -> firing -> resolved, and the reads and resets of it.
import type { Condition } from './conditions.js';
import type { ActiveAlert, AlertEvent, AlertLifecycle, AlertState, HostRecord } from './state.js';

/**
 * After a gap in what this evaluator could see (e.g. the cross-replica bus was down), count
 * every host as heard from now, so the gap itself does not look like silent agents.
 */
export function restartOfflineClocks(prev: AlertState, nowMs: number): AlertState {
  const hosts: Record<string, HostRecord> = {};
  for (const [k, h] of Object.entries(prev.hosts)) hosts[k] = { ...h, lastBatchMs: Math.max(h.lastBatchMs, nowMs) };
  return { hosts, alerts: { ...prev.alerts } };
}

/** The alerts currently firing, e.g. for the heartbeat and the digest. */
export const firingAlerts = (state: AlertState): ActiveAlert[] =>
  Object.values(state.alerts).filter((a) => a.firing);

export function reconcile(state: AlertState, conds: Condition[], at: number, inScope: (a: ActiveAlert) => boolean): AlertEvent[] {
  const out: AlertEvent[] = [];
  const live = new Set<string>();
  for (const c of conds) {
    const key = `${c.rule.id}|${c.host}|${c.containerId}`;
    live.add(key);
    const old = state.alerts[key];
    const a: ActiveAlert = old ? { ...old } : {
      key, ruleId: c.rule.id, kind: c.rule.kind, severity: c.rule.severity, host: c.host, containerId: c.containerId,
      containerName: c.containerName, value: c.value, threshold: c.threshold, message: c.message,
      sinceMs: at, firing: false, idBase: '',
    };
    state.alerts[key] = a;
    a.value = c.value;
    a.threshold = c.threshold;
    a.message = c.message;
    a.containerName = c.containerName;
    a.severity = c.rule.severity;
    if (c.context) a.context = c.context;
    if (!a.firing && at - a.sinceMs >= c.rule.forMs) {
      a.firing = true;
      a.idBase = c.idBase ?? `${key}|${at}`;
      out.push(toEvent(a, 'firing', at));
    }
  }
  for (const [key, a] of Object.entries(state.alerts)) {
    if (live.has(key) || !inScope(a)) continue;
    delete state.alerts[key];
    if (a.firing) out.push(toEvent(a, 'resolved', at, `resolved: ${a.message}`));
  }
  return out;
}

function toEvent(a: ActiveAlert, lifecycle: AlertLifecycle, at: number, message = a.message): AlertEvent {
  return {
    id: `${a.idBase}|${lifecycle}`, ruleId: a.ruleId, severity: a.severity, state: lifecycle, host: a.host,
    containerId: a.containerId, containerName: a.containerName, value: a.value, threshold: a.threshold,
    message, timestampMs: at, ...(a.context ? { context: a.context } : {}),
  };
}
