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
import type { ContainerEvent, MetricBatch } from '../types.js';
import { globMatch } from './glob.js';
import {
  type AlertRule, type AlertRuleSet, type RuleKind, type Severity, LABEL_ALERTS, LABEL_CPU, LABEL_MEMORY,
} from './rules.js';

export type AlertLifecycle = 'firing' | 'resolved';

// A type alias (not an interface) so it fits the store's Record<string, unknown> context.
export type AlertContext = {
  exitCode?: number;
  logTail?: string[];
};

export interface AlertEvent {
  /** Deterministic: the same transition computed on two replicas has the same id. */
  id: string;
  ruleId: string;
  severity: Severity;
  state: AlertLifecycle;
  host: string;
  /** '' or a synthetic id ("watch:<pattern>", "disk:<mount>") for alerts without a real container. */
  containerId: string;
  containerName: string;
  value: number;
  threshold: number;
  message: string;
  timestampMs: number;
  context?: AlertContext;
}

export interface ContainerRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  state: string;
  health: string;
  cpu?: number;
  mem?: number;
  cpuSpikeBase?: number;
  memSpikeBase?: number;
  restartCount?: number;
  /** Restarts counted from events since the last sample (so a sample's count delta is not counted twice). */
  eventRestarts: number;
  restarts: number[];
  lastDieMs?: number;
  /** A stop or kill was seen since the last start: the next die is intended. */
  intendedStop: boolean;
  died?: { atMs: number; exitCode: number; logTail?: string[] };
  oom?: { atMs: number; logTail?: string[] };
  unhealthyLogTail?: string[];
  /** Missing from a complete listing while it was running and nobody stopped it. */
  gone: boolean;
}

export interface HostRecord {
  hostname: string;
  agentId: string;
  /** Server clock when the last batch arrived. */
  lastBatchMs: number;
  /** Agent clock of the last batch (stable across replicas, used in offline alert ids). */
  lastBatchTs: number;
  intervalMs: number;
  disks: { mount: string; usedPercent: number }[];
  containers: Record<string, ContainerRecord>;
}

export interface ActiveAlert {
  key: string;
  ruleId: string;
  kind: RuleKind;
  severity: Severity;
  host: string;
  containerId: string;
  containerName: string;
  value: number;
  threshold: number;
  message: string;
  context?: AlertContext;
  sinceMs: number;
  firing: boolean;
  idBase: string;
}

export interface AlertState {
  hosts: Record<string, HostRecord>;
  alerts: Record<string, ActiveAlert>;
}

export type EvaluationInput =
  | { batch: MetricBatch; nowMs: number }
  | { tick: true; nowMs: number };

export interface EvaluationResult {
  state: AlertState;
  transitions: AlertEvent[];
}

export const emptyAlertState = (): AlertState => ({ hosts: {}, alerts: {} });

interface Condition {
  rule: AlertRule;
  host: string;
  containerId: string;
  containerName: string;
  value: number;
  threshold: number;
  message: string;
  context?: AlertContext;
  idBase?: string;
}

// ---------- public entry ----------

export function evaluate(prev: AlertState, input: EvaluationInput, rules: AlertRuleSet): EvaluationResult {
  // Copy on write: the maps are new, the batch's host is deep-copied, and reconcile replaces
  // (never edits) alert objects, so `prev` stays intact without copying every host per batch.
  const state: AlertState = { hosts: { ...prev.hosts }, alerts: { ...prev.alerts } };
  if ('batch' in input) {
    return { state, transitions: evaluateBatch(state, input.batch, input.nowMs, rules) };
  }
  return { state, transitions: evaluateTick(state, input.nowMs, rules) };
}

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

// ---------- batch ----------

function evaluateBatch(state: AlertState, batch: MetricBatch, nowMs: number, rules: AlertRuleSet): AlertEvent[] {
  const at = batch.timestampMs;
  const hostName = batch.hostname;
  const known = state.hosts[hostName];
  if (known) state.hosts[hostName] = JSON.parse(JSON.stringify(known)) as HostRecord;
  const host = state.hosts[hostName] ??= {
    hostname: hostName, agentId: batch.agentId, lastBatchMs: nowMs, lastBatchTs: at,
    intervalMs: batch.intervalMs, disks: [], containers: {},
  };
  host.agentId = batch.agentId;
  host.lastBatchMs = nowMs;
  host.lastBatchTs = at;
  host.intervalMs = batch.intervalMs;
  if (batch.host) host.disks = batch.host.disks.map((d) => ({ mount: d.mount, usedPercent: d.usedPercent }));

  const events = [...batch.events].sort((a, b) => a.timestampMs - b.timestampMs);
  for (const ev of events) applyEvent(host, ev);
  const spike = { cpu: ruleThreshold(rules, 'cpu_spike', 40), mem: ruleThreshold(rules, 'memory_spike', 20) };
  const seen = new Set<string>();
  for (const s of batch.containers) {
    seen.add(s.id);
    const rec = host.containers[s.id] ??= newRecord(s.id, s.name);
    rec.name = stripSlash(s.name);
    rec.labels = s.labels;
    rec.health = s.health;
    rec.gone = false;
    // A sample taken before a die event of the same batch describes the run that already ended.
    const stale = s.state === 'running' && rec.lastDieMs !== undefined && s.startedAtMs <= rec.lastDieMs
      && s.timestampMs <= rec.lastDieMs;
    const running = s.state === 'running' && !stale;
    rec.running = running;
    if (!stale) rec.state = s.state;
    if (running) {
      rec.cpuSpikeBase = nextSpikeBase(rec.cpu, s.cpuPercent, rec.cpuSpikeBase, spike.cpu);
      rec.memSpikeBase = nextSpikeBase(rec.mem, s.memPercent, rec.memSpikeBase, spike.mem);
      rec.cpu = s.cpuPercent;
      rec.mem = s.memPercent;
      if (rec.died) rec.died = undefined;
      if (rec.oom && s.startedAtMs > rec.oom.atMs && !s.oomKilled) rec.oom = undefined;
      if (s.health !== 'unhealthy') rec.unhealthyLogTail = undefined;
    } else {
      rec.cpu = rec.mem = rec.cpuSpikeBase = rec.memSpikeBase = undefined;
      // Without an event stream the sample alone tells of an unexpected exit.
      if ((s.state === 'exited' || s.state === 'dead') && s.exitCode !== 0 && !rec.intendedStop && !rec.died) {
        rec.died = { atMs: at, exitCode: s.exitCode };
      }
      if (s.oomKilled && !rec.oom) rec.oom = { atMs: at };
    }
    if (rec.restartCount !== undefined && s.restartCount > rec.restartCount) {
      const extra = s.restartCount - rec.restartCount - rec.eventRestarts;
      for (let i = 0; i < extra; i++) rec.restarts.push(at);
    }
    rec.restartCount = s.restartCount;
    rec.eventRestarts = 0;
  }
  if (batch.complete) {
    for (const [id, rec] of Object.entries(host.containers)) {
      if (seen.has(id)) continue;
      if (rec.running && !rec.intendedStop) {
        rec.gone = true;
        rec.running = false;
        rec.cpu = rec.mem = rec.cpuSpikeBase = rec.memSpikeBase = undefined;
      } else if (!rec.gone && !rec.died) {
        delete host.containers[id];
      }
    }
  }

  const conds = hostConditions(host, rules, at, batch.complete);
  return reconcile(state, conds, at, (a) =>
    a.host === hostName && (a.kind !== 'watched' || batch.complete));
}

function applyEvent(host: HostRecord, ev: ContainerEvent): void {
  const action = ev.action.split(':')[0]!.trim();
  if (action === 'destroy') {
    delete host.containers[ev.containerId];
    return;
  }
  const rec = host.containers[ev.containerId] ??= newRecord(ev.containerId, ev.containerName);
  if (ev.containerName) rec.name = stripSlash(ev.containerName);
  const logTail = ev.attributes['logTail'] ? ev.attributes['logTail'].split('\n') : undefined;
  switch (action) {
    case 'start':
      if (rec.lastDieMs !== undefined) {
        rec.restarts.push(ev.timestampMs);
        rec.eventRestarts++;
      }
      rec.running = true;
      rec.state = 'running';
      rec.intendedStop = false;
      rec.died = undefined;
      rec.oom = undefined;
      rec.gone = false;
      break;
    case 'kill':
    case 'stop':
      rec.intendedStop = true;
      break;
    case 'die': {
      const attr = ev.attributes['exitCode'];
      const exitCode = attr !== undefined && attr !== '' && Number.isFinite(Number(attr)) ? Number(attr) : ev.exitCode;
      rec.running = false;
      rec.state = 'exited';
      rec.lastDieMs = ev.timestampMs;
      rec.cpu = rec.mem = rec.cpuSpikeBase = rec.memSpikeBase = undefined;
      if (!rec.intendedStop && exitCode !== 0) {
        rec.died = { atMs: ev.timestampMs, exitCode, ...(logTail ? { logTail } : {}) };
      }
      break;
    }
    case 'oom':
      rec.oom = { atMs: ev.timestampMs, ...(logTail ? { logTail } : {}) };
      break;
    case 'health_status': {
      const health = ev.health || ev.action.split(':')[1]?.trim() || '';
      rec.health = health;
      rec.unhealthyLogTail = health === 'unhealthy' ? logTail : undefined;
      break;
    }
    default:
      break;
  }
}

function hostConditions(host: HostRecord, rules: AlertRuleSet, at: number, complete: boolean): Condition[] {
  const out: Condition[] = [];
  const h = host.hostname;
  for (const rule of rules.rules) {
    if (!rule.enabled) continue;
    if (rule.kind === 'host_disk') {
      for (const d of host.disks) {
        if (d.usedPercent > rule.threshold) {
          out.push({ rule, host: h, containerId: `disk:${d.mount}`, containerName: '', value: d.usedPercent,
            threshold: rule.threshold, message: `disk ${d.mount} ${fmt(d.usedPercent)}% used > ${fmt(rule.threshold)}% on host ${h}` });
        }
      }
      continue;
    }
    if (rule.kind === 'watched') {
      if (complete) out.push(...watchedConditions(host, rules, rule));
      continue;
    }
    if (rule.kind === 'agent_offline') continue;
    for (const rec of Object.values(host.containers)) {
      const c = containerCondition(rule, rec, effectiveSettings(rules, h, rec), at);
      if (c) out.push({ ...c, rule, host: h, containerId: rec.id, containerName: rec.name,
        message: `${c.message}: container ${rec.name} on host ${h}` });
    }
  }
  return out;
}

type Partial3 = { value: number; threshold: number; message: string; context?: AlertContext };

function containerCondition(rule: AlertRule, rec: ContainerRecord, eff: Effective, at: number): Partial3 | null {
  if (eff.off) return null;
  switch (rule.kind) {
    case 'cpu': {
      const thr = eff.cpu ?? rule.threshold;
      return rec.running && rec.cpu !== undefined && rec.cpu > thr
        ? { value: rec.cpu, threshold: thr, message: `CPU ${fmt(rec.cpu)}% > ${fmt(thr)}%` } : null;
    }
    case 'memory': {
      const thr = eff.mem ?? rule.threshold;
      return rec.running && rec.mem !== undefined && rec.mem > thr
        ? { value: rec.mem, threshold: thr, message: `memory ${fmt(rec.mem)}% > ${fmt(thr)}%` } : null;
    }
    case 'stopped':
      if (rec.gone) return { value: -1, threshold: 0, message: 'disappeared without being stopped' };
      if (rec.died && !rec.running) {
        const context: AlertContext = { exitCode: rec.died.exitCode, ...(rec.died.logTail ? { logTail: rec.died.logTail } : {}) };
        return { value: rec.died.exitCode, threshold: 0, message: `died unexpectedly with exit code ${rec.died.exitCode}`, context };
      }
      return null;
    case 'unhealthy':
      return rec.health === 'unhealthy' && rec.running
        ? { value: 1, threshold: 0, message: 'unhealthy',
          ...(rec.unhealthyLogTail ? { context: { logTail: rec.unhealthyLogTail } } : {}) } : null;
    case 'oom':
      return rec.oom
        ? { value: 1, threshold: 0, message: 'killed by the OOM killer',
          ...(rec.oom.logTail ? { context: { logTail: rec.oom.logTail } } : {}) } : null;
    case 'restart_loop': {
      rec.restarts = rec.restarts.filter((t) => t > at - rule.windowMs);
      const n = rec.restarts.length;
      return n >= rule.threshold
        ? { value: n, threshold: rule.threshold, message: `restarted ${n} times in ${Math.round(rule.windowMs / 1000)}s` } : null;
    }
    case 'cpu_spike':
      return rec.cpuSpikeBase !== undefined && rec.cpu !== undefined
        ? { value: rec.cpu - rec.cpuSpikeBase, threshold: rule.threshold,
          message: `CPU jumped ${fmt(rec.cpu - rec.cpuSpikeBase)} points to ${fmt(rec.cpu)}%` } : null;
    case 'memory_spike':
      return rec.memSpikeBase !== undefined && rec.mem !== undefined
        ? { value: rec.mem - rec.memSpikeBase, threshold: rule.threshold,
          message: `memory jumped ${fmt(rec.mem - rec.memSpikeBase)} points to ${fmt(rec.mem)}%` } : null;
    default:
      return null;
  }
}

function watchedConditions(host: HostRecord, rules: AlertRuleSet, rule: AlertRule): Condition[] {
  const h = host.hostname;
  const patterns = new Set<string>();
  for (const w of rules.watch) if (globMatch(w.host, h)) for (const c of w.containers) patterns.add(c);
  const out: Condition[] = [];
  const recs = Object.values(host.containers);
  for (const p of patterns) {
    const matched = recs.filter((r) => globMatch(p, r.name));
    if (matched.length === 0) {
      out.push({ rule, host: h, containerId: `watch:${p}`, containerName: p, value: 0, threshold: 1,
        message: `watched container ${p} is absent on host ${h}` });
      continue;
    }
    for (const r of matched) {
      if (r.running) continue;
      out.push({ rule, host: h, containerId: r.id, containerName: r.name, value: 0, threshold: 1,
        message: `watched container ${r.name} is not running (${r.gone ? 'gone' : r.state}) on host ${h}` });
    }
  }
  return out;
}

// ---------- tick ----------

function evaluateTick(state: AlertState, nowMs: number, rules: AlertRuleSet): AlertEvent[] {
  const conds: Condition[] = [];
  for (const rule of rules.rules) {
    if (!rule.enabled || rule.kind !== 'agent_offline') continue;
    for (const host of Object.values(state.hosts)) {
      if (host.intervalMs <= 0) continue;
      const silentMs = nowMs - host.lastBatchMs;
      const missed = silentMs / host.intervalMs;
      if (missed > rule.threshold) {
        conds.push({ rule, host: host.hostname, containerId: '', containerName: '', value: Math.floor(missed),
          threshold: rule.threshold, idBase: `${rule.id}|${host.hostname}||${host.lastBatchTs}`,
          message: `agent ${host.agentId} on host ${host.hostname} sent nothing for ${Math.round(silentMs / 1000)}s` });
      }
    }
  }
  return reconcile(state, conds, nowMs, (a) => a.kind === 'agent_offline');
}

// ---------- lifecycle ----------

function reconcile(state: AlertState, conds: Condition[], at: number, inScope: (a: ActiveAlert) => boolean): AlertEvent[] {
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

// ---------- helpers ----------

interface Effective { cpu?: number; mem?: number; off: boolean }

/** Rules-file overrides in order (later wins), then the container's own labels. */
export function effectiveSettings(rules: AlertRuleSet, host: string, rec: { name: string; labels: Record<string, string> }): Effective {
  const eff: Effective = { off: false };
  for (const o of rules.overrides) {
    if (!globMatch(o.match, rec.name) || (o.host !== undefined && !globMatch(o.host, host))) continue;
    if (o.cpuThreshold !== undefined) eff.cpu = o.cpuThreshold;
    if (o.memoryThreshold !== undefined) eff.mem = o.memoryThreshold;
    if (o.alerts !== undefined) eff.off = !o.alerts;
  }
  const labelOff = rec.labels[LABEL_ALERTS]?.trim().toLowerCase();
  if (labelOff !== undefined) eff.off = ['off', 'false', 'no', '0', 'disabled'].includes(labelOff);
  const cpu = labelNumber(rec.labels[LABEL_CPU]);
  if (cpu !== undefined) eff.cpu = cpu;
  const mem = labelNumber(rec.labels[LABEL_MEMORY]);
  if (mem !== undefined) eff.mem = mem;
  return eff;
}

function labelNumber(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A spike starts when the value jumps by `delta` between two samples and lasts while it stays that far up. */
function nextSpikeBase(prev: number | undefined, cur: number, base: number | undefined, delta: number): number | undefined {
  if (base !== undefined && cur - base >= delta) return base;
  if (prev !== undefined && cur - prev >= delta) return prev;
  return undefined;
}

function ruleThreshold(rules: AlertRuleSet, kind: RuleKind, fallback: number): number {
  const r = rules.rules.find((x) => x.kind === kind && x.enabled);
  return r ? r.threshold : fallback;
}

const newRecord = (id: string, name: string): ContainerRecord => ({
  id, name: stripSlash(name), labels: {}, running: false, state: 'unknown', health: 'none',
  eventRestarts: 0, restarts: [], intendedStop: false, gone: false,
});

const stripSlash = (n: string): string => (n.startsWith('/') ? n.slice(1) : n);
const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();
