// What the evaluator knows: the state types, and how a batch updates a host's containers.
import type { ContainerEvent, MetricBatch } from '../types.js';
import type { AlertRuleSet, RuleKind, Severity } from './rules.js';

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

/** Applies a batch to its host's record (copied first, so `prev` hosts stay intact) and returns it. */
export function updateHost(state: AlertState, batch: MetricBatch, nowMs: number, rules: AlertRuleSet): HostRecord {
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
  return host;
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
