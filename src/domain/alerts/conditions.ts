// Rule matching: which alert conditions hold for a host's containers, disks and agent.
import { globMatch } from './glob.js';
import { type Effective, effectiveSettings } from './overrides.js';
import type { AlertRule, AlertRuleSet } from './rules.js';
import type { AlertContext, AlertState, ContainerRecord, HostRecord } from './state.js';

export interface Condition {
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

export function hostConditions(host: HostRecord, rules: AlertRuleSet, at: number, complete: boolean): Condition[] {
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

/** Tick conditions: hosts whose agent has sent nothing for more than `threshold` intervals. */
export function offlineConditions(state: AlertState, nowMs: number, rules: AlertRuleSet): Condition[] {
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
  return conds;
}

const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();
