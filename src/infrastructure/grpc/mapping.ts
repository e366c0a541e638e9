// Wire <-> domain for the gRPC transport, and validation of what agents send.
// Wire objects are what @grpc/proto-loader produces with LOADER_OPTIONS (camelCase names,
// numbers for 64-bit ints, enum names, defaults filled in), so field names match the domain.
// Error messages name fields the way the .proto spells them ("containers[3].cpu_percent"),
// because that is what a client in any language sees.
import type {
  BatchAck, ContainerEvent, ContainerSample, DiskUsage, HostSample, MetricBatch,
} from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import { invalidArgument } from '../../application/errors.js';
import type { SubscriptionFilterInput } from '../../application/subscription-filter.js';

export type AckStatusWire = 'STATUS_UNSPECIFIED' | 'ACK' | 'DUPLICATE' | 'REJECTED';

export interface MetricResponseWire {
  agentId: string;
  sequence: number;
  status: AckStatusWire;
  message: string;
  /** Set on a command (then status is STATUS_UNSPECIFIED and sequence 0); null/absent on an ack. */
  command?: AgentCommandWire | null;
}

export interface AgentCommandWire {
  id: string;
  kind: string;
  containerId: string;
  containerName: string;
  timeoutSec: number;
  reason: string;
}

export interface SubscriptionRequestWire {
  hosts?: string[];
  containerIds?: string[];
  names?: string[];
  labels?: string[];
  includeHost?: boolean;
}

/** A decoded MetricData. Loosely typed on purpose: it comes from the network. */
export type MetricDataWire = Record<string, unknown>;

export interface ValidationLimits {
  /** Most containers one batch may carry (default 5000). */
  maxContainers: number;
  /** Most events one batch may carry (default 10000). */
  maxEvents: number;
  /** How far ahead of the server clock a timestamp may be (default 1 day). */
  maxFutureMs: number;
  /** Server clock. */
  now: () => number;
}

export const DEFAULT_LIMITS: ValidationLimits = {
  maxContainers: 5000,
  maxEvents: 10000,
  maxFutureMs: 24 * 3600_000,
  now: Date.now,
};

/** 2000-01-01T00:00:00Z: anything earlier is a unit mistake (seconds for ms) or garbage. */
const MIN_TIMESTAMP_MS = 946_684_800_000;
const MAX_LABELS = 1000;
const MAX_STRING = 4096;

/** Which fields identify a batch: without them no ack can name it, so the stream ends instead. */
export const IDENTITY_FIELDS = new Set(['agent_id', 'sequence']);

/** "containers[3]", made once per index: a new string per sample was garbage on the hot path. */
const containerPaths: string[] = [];
const containerPath = (i: number): string => (containerPaths[i] ??= `containers[${i}]`);

/** "containers[3]" + "cpu_percent": built only when a check fails (the happy path makes no strings). */
const fieldPath = (at: string, name: string): string => (at === '' ? name : name === '' ? at : `${at}.${name}`);

const ID = { required: true, max: 256 };
const NAME = { max: 512 };
const PLAIN = {};
const SHORT = { max: 64 };
const ALLOW_ZERO = { allowZero: true };
// Shared option objects: a literal per call was a fresh object per field of every sample.
const INTEGER = { int: true };
const PERCENT = { max: 1e6 };
const INT32 = { min: -2_147_483_648, max: 2_147_483_647, int: true };
const NO_OPTIONS = {};

class Checker {
  constructor(private readonly limits: ValidationLimits) {}

  str(at: string, name: string, v: unknown, opts: { required?: boolean; max?: number } = NO_OPTIONS): string {
    if (v === undefined || v === null) v = '';
    if (typeof v !== 'string') throw invalidArgument(fieldPath(at, name), 'must be a string');
    if (opts.required && v.trim() === '') throw invalidArgument(fieldPath(at, name), 'required');
    if (v.length > (opts.max ?? MAX_STRING)) throw invalidArgument(fieldPath(at, name), `longer than ${opts.max ?? MAX_STRING} characters`);
    return v;
  }

  /** A finite number in [min, max]; counters must also be integers. */
  num(at: string, name: string, v: unknown, opts: { min?: number; max?: number; int?: boolean } = NO_OPTIONS): number {
    if (v === undefined || v === null) v = 0;
    if (typeof v !== 'number') throw invalidArgument(fieldPath(at, name), 'must be a number');
    if (Number.isNaN(v)) throw invalidArgument(fieldPath(at, name), 'is NaN');
    if (!Number.isFinite(v)) throw invalidArgument(fieldPath(at, name), 'is infinite');
    const min = opts.min ?? 0;
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    if (v < min) throw invalidArgument(fieldPath(at, name), min === 0 ? `is negative (${v})` : `below ${min} (${v})`);
    // A uint64 near 2^64 is almost always a negative number sent as unsigned.
    if (v > max) throw invalidArgument(fieldPath(at, name), `out of range (${v} > ${max})`);
    if (opts.int && !Number.isInteger(v)) throw invalidArgument(fieldPath(at, name), `must be an integer (${v})`);
    return v;
  }

  counter(at: string, name: string, v: unknown): number {
    return this.num(at, name, v, INTEGER);
  }

  percent(at: string, name: string, v: unknown): number {
    // Container CPU % can exceed 100 (100 per core); 1e6 leaves room for 10,000 cores.
    return this.num(at, name, v, PERCENT);
  }

  timestamp(at: string, name: string, v: unknown, opts: { allowZero?: boolean } = NO_OPTIONS): number {
    const t = this.num(at, name, v, INTEGER);
    if (opts.allowZero && t === 0) return 0;
    if (t < MIN_TIMESTAMP_MS) throw invalidArgument(fieldPath(at, name), `implausible timestamp ${t} (before 2000; seconds instead of ms?)`);
    const latest = this.limits.now() + this.limits.maxFutureMs;
    if (t > latest) throw invalidArgument(fieldPath(at, name), `implausible timestamp ${t} (more than ${this.limits.maxFutureMs} ms in the future)`);
    return t;
  }

  int32(at: string, name: string, v: unknown): number {
    return this.num(at, name, v, INT32);
  }

  bool(v: unknown): boolean {
    return v === true;
  }

  /** A string map, checked in place (decoded maps are plain objects we own). */
  map(at: string, name: string, v: unknown): Record<string, string> {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(fieldPath(at, name), 'must be a map');
    const m = v as Record<string, unknown>;
    let n = 0;
    for (const k in m) {
      if (++n > MAX_LABELS) throw invalidArgument(fieldPath(at, name), `more than ${MAX_LABELS} entries`);
      const val = m[k];
      if (val === undefined || val === null) { m[k] = ''; continue; }
      if (typeof val !== 'string' || val.length > MAX_STRING) this.str(`${fieldPath(at, name)}[${JSON.stringify(k)}]`, '', val);
    }
    return m as Record<string, string>;
  }

  list(at: string, name: string, v: unknown, max: number): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw invalidArgument(fieldPath(at, name), 'must be a list');
    if (v.length > max) throw invalidArgument(fieldPath(at, name), `too many entries (${v.length} > ${max})`);
    return v;
  }

  obj(at: string, name: string, v: unknown): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(fieldPath(at, name), 'must be a message');
    return v as Record<string, unknown>;
  }
}

/**
 * Validates a container sample in place and returns it as the domain object: the wire object
 * has the domain's field names already, and copying it would double the garbage per sample.
 */
function containerFromWire(c: Checker, p: string, raw: unknown): ContainerSample {
  const w = c.obj(p, '', raw);
  w.id = c.str(p, 'id', w.id, ID);
  w.name = c.str(p, 'name', w.name, NAME);
  w.image = c.str(p, 'image', w.image, PLAIN);
  w.labels = c.map(p, 'labels', w.labels);
  w.state = c.str(p, 'state', w.state, SHORT);
  w.health = c.str(p, 'health', w.health, SHORT);
  w.restartCount = c.counter(p, 'restart_count', w.restartCount);
  w.exitCode = c.int32(p, 'exit_code', w.exitCode);
  w.oomKilled = c.bool(w.oomKilled);
  w.startedAtMs = c.timestamp(p, 'started_at_ms', w.startedAtMs, ALLOW_ZERO);
  w.timestampMs = c.timestamp(p, 'timestamp_ms', w.timestampMs);
  w.cpuPercent = c.percent(p, 'cpu_percent', w.cpuPercent);
  w.cpuUsageNs = c.counter(p, 'cpu_usage_ns', w.cpuUsageNs);
  w.onlineCpus = c.counter(p, 'online_cpus', w.onlineCpus);
  w.memUsageBytes = c.counter(p, 'mem_usage_bytes', w.memUsageBytes);
  w.memLimitBytes = c.counter(p, 'mem_limit_bytes', w.memLimitBytes);
  w.memPercent = c.percent(p, 'mem_percent', w.memPercent);
  w.memRawUsageBytes = c.counter(p, 'mem_raw_usage_bytes', w.memRawUsageBytes);
  w.netRxBytes = c.counter(p, 'net_rx_bytes', w.netRxBytes);
  w.netTxBytes = c.counter(p, 'net_tx_bytes', w.netTxBytes);
  w.blkReadBytes = c.counter(p, 'blk_read_bytes', w.blkReadBytes);
  w.blkWriteBytes = c.counter(p, 'blk_write_bytes', w.blkWriteBytes);
  w.pids = c.counter(p, 'pids', w.pids);
  w.source = c.str(p, 'source', w.source, SHORT);
  return w as unknown as ContainerSample;
}

function diskFromWire(c: Checker, p: string, raw: unknown): DiskUsage {
  const w = c.obj(p, '', raw);
  return {
    mount: c.str(p, 'mount', w.mount),
    device: c.str(p, 'device', w.device),
    fsType: c.str(p, 'fs_type', w.fsType),
    totalBytes: c.counter(p, 'total_bytes', w.totalBytes),
    usedBytes: c.counter(p, 'used_bytes', w.usedBytes),
    usedPercent: c.percent(p, 'used_percent', w.usedPercent),
  };
}

function hostFromWire(c: Checker, p: string, raw: unknown): HostSample {
  const w = c.obj(p, '', raw);
  return {
    timestampMs: c.timestamp(p, 'timestamp_ms', w.timestampMs),
    numCpus: c.counter(p, 'num_cpus', w.numCpus),
    cpuPercent: c.percent(p, 'cpu_percent', w.cpuPercent),
    cpuPerCorePercent: c.list(p, 'cpu_per_core_percent', w.cpuPerCorePercent, 4096)
      .map((v, i) => c.percent(`${p}.cpu_per_core_percent[${i}]`, '', v)),
    load1: c.num(p, 'load1', w.load1, { max: 1e9 }),
    load5: c.num(p, 'load5', w.load5, { max: 1e9 }),
    load15: c.num(p, 'load15', w.load15, { max: 1e9 }),
    memTotalBytes: c.counter(p, 'mem_total_bytes', w.memTotalBytes),
    memAvailableBytes: c.counter(p, 'mem_available_bytes', w.memAvailableBytes),
    memUsedBytes: c.counter(p, 'mem_used_bytes', w.memUsedBytes),
    memPercent: c.percent(p, 'mem_percent', w.memPercent),
    swapTotalBytes: c.counter(p, 'swap_total_bytes', w.swapTotalBytes),
    swapUsedBytes: c.counter(p, 'swap_used_bytes', w.swapUsedBytes),
    disks: c.list(p, 'disks', w.disks, 4096).map((d, i) => diskFromWire(c, `${p}.disks[${i}]`, d)),
    netRxBytes: c.counter(p, 'net_rx_bytes', w.netRxBytes),
    netTxBytes: c.counter(p, 'net_tx_bytes', w.netTxBytes),
    uptimeSeconds: c.counter(p, 'uptime_seconds', w.uptimeSeconds),
    runtimeAvailable: c.bool(w.runtimeAvailable),
  };
}

function eventFromWire(c: Checker, p: string, raw: unknown): ContainerEvent {
  const w = c.obj(p, '', raw);
  return {
    containerId: c.str(p, 'container_id', w.containerId, { required: true, max: 256 }),
    containerName: c.str(p, 'container_name', w.containerName, { max: 512 }),
    action: c.str(p, 'action', w.action, { required: true, max: 64 }),
    timestampMs: c.timestamp(p, 'timestamp_ms', w.timestampMs),
    exitCode: c.int32(p, 'exit_code', w.exitCode),
    health: c.str(p, 'health', w.health, { max: 64 }),
    attributes: c.map(p, 'attributes', w.attributes),
  };
}

/** The batch's identity, checked before anything else so a rejection can still name it. */
export function batchIdentity(raw: MetricDataWire): { agentId: string; sequence: number } {
  const c = new Checker(DEFAULT_LIMITS);
  const agentId = c.str('', 'agent_id', raw.agentId, { required: true, max: 256 });
  if (/[\u0000-\u001f\u007f]/.test(agentId)) throw invalidArgument('agent_id', 'contains control characters');
  const sequence = c.num('', 'sequence', raw.sequence, { int: true });
  if (sequence === 0) throw invalidArgument('sequence', 'must be at least 1');
  return { agentId, sequence };
}

/**
 * Validates a decoded MetricData and returns the domain batch.
 * Throws AppError INVALID_ARGUMENT whose `field` is the proto path of the first bad field.
 */
export function metricDataFromWire(raw: MetricDataWire, limits: Partial<ValidationLimits> = {}): MetricBatch {
  const c = new Checker({ ...DEFAULT_LIMITS, ...limits });
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const { agentId, sequence } = batchIdentity(raw);
  const containers = c.list('', 'containers', raw.containers, lim.maxContainers)
    .map((x, i) => containerFromWire(c, containerPath(i), x));
  const seen = new Set<string>();
  containers.forEach((x, i) => {
    if (seen.has(x.id)) throw invalidArgument(`containers[${i}].id`, `duplicate container id ${x.id}`);
    seen.add(x.id);
  });
  return {
    agentId,
    sequence,
    hostname: c.str('', 'hostname', raw.hostname, { required: true, max: 256 }),
    timestampMs: c.timestamp('', 'timestamp_ms', raw.timestampMs),
    host: raw.host === null || raw.host === undefined ? null : hostFromWire(c, 'host', raw.host),
    containers,
    events: c.list('', 'events', raw.events, lim.maxEvents).map((x, i) => eventFromWire(c, `events[${i}]`, x)),
    complete: c.bool(raw.complete),
    intervalMs: c.num('', 'interval_ms', raw.intervalMs, { int: true, max: 24 * 3600_000 }),
  };
}

// ---------- domain -> wire ----------

const containerToWire = (s: ContainerSample): ContainerSample => ({
  id: s.id, name: s.name, image: s.image, labels: s.labels, state: s.state, health: s.health,
  restartCount: s.restartCount, exitCode: s.exitCode, oomKilled: s.oomKilled,
  startedAtMs: s.startedAtMs, timestampMs: s.timestampMs,
  cpuPercent: s.cpuPercent, cpuUsageNs: s.cpuUsageNs, onlineCpus: s.onlineCpus,
  memUsageBytes: s.memUsageBytes, memLimitBytes: s.memLimitBytes, memPercent: s.memPercent,
  memRawUsageBytes: s.memRawUsageBytes, netRxBytes: s.netRxBytes, netTxBytes: s.netTxBytes,
  blkReadBytes: s.blkReadBytes, blkWriteBytes: s.blkWriteBytes, pids: s.pids, source: s.source,
});

/** A domain batch as the object proto-loader serialises (field names match once camelCased). */
export function metricDataToWire(b: MetricBatch): Record<string, unknown> {
  return {
    agentId: b.agentId,
    hostname: b.hostname,
    sequence: b.sequence,
    timestampMs: b.timestampMs,
    host: b.host,
    containers: b.containers.map(containerToWire),
    events: b.events,
    complete: b.complete,
    intervalMs: b.intervalMs,
  };
}

const STATUS_TO_WIRE: Record<BatchAck['status'], AckStatusWire> = {
  ack: 'ACK', duplicate: 'DUPLICATE', rejected: 'REJECTED',
};

export function ackToWire(a: BatchAck): MetricResponseWire {
  return { agentId: a.agentId, sequence: a.sequence, status: STATUS_TO_WIRE[a.status], message: a.message };
}

export function ackFromWire(w: MetricResponseWire): BatchAck {
  const status = w.status === 'ACK' ? 'ack' : w.status === 'DUPLICATE' ? 'duplicate' : 'rejected';
  return { agentId: w.agentId, sequence: Number(w.sequence), status, message: w.message ?? '' };
}

export function commandToWire(agentId: string, cmd: AgentCommand): MetricResponseWire {
  return {
    agentId, sequence: 0, status: 'STATUS_UNSPECIFIED', message: '',
    command: {
      id: cmd.id, kind: cmd.kind, containerId: cmd.containerId, containerName: cmd.containerName,
      timeoutSec: cmd.timeoutSec, reason: cmd.reason,
    },
  };
}

/**
 * A command as received, or null when it lacks an id or a container id (no outcome could name
 * it). The kind is passed on unchecked: the handler refuses kinds it does not know, so the
 * server still hears back from an agent older than the command.
 */
export function commandFromWire(w: AgentCommandWire): AgentCommand | null {
  const id = typeof w.id === 'string' ? w.id : '';
  const containerId = typeof w.containerId === 'string' ? w.containerId : '';
  if (id === '' || containerId === '') return null;
  const timeoutSec = Number(w.timeoutSec);
  return {
    id,
    kind: String(w.kind ?? '') as AgentCommand['kind'],
    containerId,
    containerName: typeof w.containerName === 'string' ? w.containerName : '',
    timeoutSec: Number.isFinite(timeoutSec) && timeoutSec >= 0 ? Math.floor(timeoutSec) : 0,
    reason: typeof w.reason === 'string' ? w.reason : '',
  };
}

export function subscriptionFromWire(w: SubscriptionRequestWire): SubscriptionFilterInput {
  return {
    hosts: w.hosts ?? [],
    containerIds: w.containerIds ?? [],
    names: w.names ?? [],
    labels: w.labels ?? [],
    includeHost: w.includeHost === true,
  };
}
