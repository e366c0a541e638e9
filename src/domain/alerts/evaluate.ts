// Alert evaluation as a pure state machine:
//   evaluate(state, input, rules) -> { state, transitions }
// A batch updates what is known about its host's containers (from events first, then
// samples), recomputes every condition of that host and reconciles them with the alerts in
// the state: a new condition becomes pending, a pending one fires once it has held `forMs`,
// an alert whose condition is gone resolves (only firing ones announce it). A tick only
// checks for agents that went quiet.
//
// Timing: container conditions use the batch's own timestamp (the agent's clock), so every
// server replica that sees the same batches computes the same alerts with the same ids, and
// the cross-replica dedupe (a Redis claim on the event id) works. Only "when did this host
// last report" uses the server clock (input.nowMs), which offline detection compares with.
import type { MetricBatch } from '../types.js';
import { hostConditions, offlineConditions } from './conditions.js';
import { reconcile } from './lifecycle.js';
import type { AlertRuleSet } from './rules.js';
import { type AlertEvent, type AlertState, type EvaluationInput, type EvaluationResult, updateHost } from './state.js';

// Re-exported so importers keep using this module as the alerts entry point.
export type {
  ActiveAlert, AlertContext, AlertEvent, AlertLifecycle, AlertState, ContainerRecord, EvaluationInput,
  EvaluationResult, HostRecord,
} from './state.js';
export { emptyAlertState } from './state.js';
export { firingAlerts, restartOfflineClocks } from './lifecycle.js';
export { effectiveSettings } from './overrides.js';

export function evaluate(prev: AlertState, input: EvaluationInput, rules: AlertRuleSet): EvaluationResult {
  // Copy on write: the maps are new, the batch's host is deep-copied, and reconcile replaces
  // (never edits) alert objects, so `prev` stays intact without copying every host per batch.
  const state: AlertState = { hosts: { ...prev.hosts }, alerts: { ...prev.alerts } };
  if ('batch' in input) {
    return { state, transitions: evaluateBatch(state, input.batch, input.nowMs, rules) };
  }
  return { state, transitions: evaluateTick(state, input.nowMs, rules) };
}

function evaluateBatch(state: AlertState, batch: MetricBatch, nowMs: number, rules: AlertRuleSet): AlertEvent[] {
  const at = batch.timestampMs;
  const hostName = batch.hostname;
  const host = updateHost(state, batch, nowMs, rules);
  const conds = hostConditions(host, rules, at, batch.complete);
  return reconcile(state, conds, at, (a) =>
    a.host === hostName && (a.kind !== 'watched' || batch.complete));
}

function evaluateTick(state: AlertState, nowMs: number, rules: AlertRuleSet): AlertEvent[] {
  return reconcile(state, offlineConditions(state, nowMs, rules), nowMs, (a) => a.kind === 'agent_offline');
}
