// The per-container (cAdvisor names) and per-host (dockwatch_host_*) metric families, built
// from one snapshot of the LatestStore taken at scrape time. Nothing is kept between scrapes,
// so a container or host that leaves the store leaves the output with it.
import type { HostInfo, HostedContainerSample } from '../../domain/types.js';
import { dockerLabelsToPromLabels } from './labels.js';

export type FamilyType = 'counter' | 'gauge';

export interface Series {
  labels: Record<string, string>;
  value: number;
}

export interface Snapshot {
  containers: Array<{ sample: HostedContainerSample; labels: Record<string, string> }>;
  hosts: HostInfo[];
}

export interface FamilyDef {
  name: string;
  help: string;
  type: FamilyType;
  series(snap: Snapshot): Series[];
}

/** The label names every container series carries; Docker labels must not override them. */
export const CONTAINER_CORE_LABELS: ReadonlySet<string> = new Set(['id', 'name', 'image', 'host']);

// States in which a container has no cgroup, so cAdvisor would not report it either.
const GONE_STATES = new Set(['removed', 'removing', 'exited', 'dead', 'created']);

export interface SnapshotOptions {
  labelPrefix: string;
  /** 0 disables the staleness cut. */
  staleAfterMs: number;
  nowMs: number;
}

/**
 * Picks what to export: containers that still have a cgroup and were seen recently, hosts
 * seen recently. "Seen" is the later of the sample's own timestamp (agent clock) and the
 * host's last batch (server clock), so a skewed agent clock alone does not hide anything.
 */
export function takeSnapshot(
  containers: readonly HostedContainerSample[],
  hosts: readonly HostInfo[],
  opts: SnapshotOptions,
): Snapshot {
  const hostSeen = new Map<string, number>();
  for (const h of hosts) hostSeen.set(h.agentId, h.lastSeenMs);
  const fresh = (seenMs: number): boolean =>
    opts.staleAfterMs <= 0 || opts.nowMs - seenMs <= opts.staleAfterMs;

  const out: Snapshot = { containers: [], hosts: [] };
  for (const c of containers) {
    if (GONE_STATES.has(c.state)) continue;
    if (!fresh(Math.max(c.timestampMs, hostSeen.get(c.agentId) ?? 0))) continue;
    const labels: Record<string, string> = {
      id: c.id, name: c.name.replace(/^\//, ''), image: c.image, host: c.host,
      ...dockerLabelsToPromLabels(c.labels ?? {}, opts.labelPrefix, CONTAINER_CORE_LABELS),
    };
    out.containers.push({ sample: c, labels });
  }
  out.hosts = hosts.filter((h) => fresh(h.lastSeenMs));
  return out;
}

function perContainer(
  name: string, help: string, type: FamilyType,
  value: (c: HostedContainerSample) => number | null,
): FamilyDef {
  return {
    name, help, type,
    series: (snap) => {
      const out: Series[] = [];
      for (const { sample, labels } of snap.containers) {
        const v = value(sample);
        if (v !== null && Number.isFinite(v)) out.push({ labels, value: v });
      }
      return out;
    },
  };
}

function perHost(
  name: string, help: string, type: FamilyType,
  value: (h: HostInfo) => number | null,
): FamilyDef {
  return {
    name, help, type,
    series: (snap) => {
      const out: Series[] = [];
      for (const h of snap.hosts) {
        const v = value(h);
        if (v !== null && Number.isFinite(v)) out.push({ labels: { host: h.hostname }, value: v });
      }
      return out;
    },
  };
}

const sampleOf = <T>(h: HostInfo, f: (s: NonNullable<HostInfo['sample']>) => T): T | null =>
  h.sample ? f(h.sample) : null;

export const CONTAINER_FAMILIES: FamilyDef[] = [
  perContainer('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', 'counter',
    (c) => c.cpuUsageNs / 1e9),
  perContainer('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed.', 'gauge',
    (c) => c.memRawUsageBytes),
  perContainer('container_memory_working_set_bytes', 'Current working set in bytes (usage minus inactive file cache).', 'gauge',
    (c) => c.memUsageBytes),
  perContainer('container_spec_memory_limit_bytes', 'Memory limit for the container in bytes (the host memory when unlimited).', 'gauge',
    (c) => c.memLimitBytes),
  perContainer('container_network_receive_bytes_total', 'Cumulative count of bytes received, all interfaces.', 'counter',
    (c) => c.netRxBytes),
  perContainer('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted, all interfaces.', 'counter',
    (c) => c.netTxBytes),
  perContainer('container_fs_reads_bytes_total', 'Cumulative count of bytes read, all block devices.', 'counter',
    (c) => c.blkReadBytes),
  perContainer('container_fs_writes_bytes_total', 'Cumulative count of bytes written, all block devices.', 'counter',
    (c) => c.blkWriteBytes),
  perContainer('container_processes', 'Number of processes running inside the container.', 'gauge',
    (c) => c.pids),
  perContainer('container_last_seen', 'Last time a container was seen by the exporter (Unix seconds).', 'gauge',
    (c) => c.timestampMs / 1000),
  perContainer('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.', 'gauge',
    (c) => (c.startedAtMs > 0 ? c.startedAtMs / 1000 : null)),
];

export const HOST_FAMILIES: FamilyDef[] = [
  perHost('dockwatch_host_last_seen_seconds', 'When the host\'s agent last sent a batch (Unix seconds, server clock).', 'gauge',
    (h) => h.lastSeenMs / 1000),
  perHost('dockwatch_host_containers', 'Containers the host\'s agent reported in its last complete batch.', 'gauge',
    (h) => h.containerCount),
  perHost('dockwatch_host_runtime_available', '1 when the agent can reach its container runtime, 0 when it reports host metrics only.', 'gauge',
    (h) => sampleOf(h, (s) => (s.runtimeAvailable ? 1 : 0))),
  perHost('dockwatch_host_cpus', 'Number of online CPUs.', 'gauge', (h) => sampleOf(h, (s) => s.numCpus)),
  perHost('dockwatch_host_cpu_percent', 'Host CPU busy percent over the last interval (100 = all cores busy).', 'gauge',
    (h) => sampleOf(h, (s) => s.cpuPercent)),
  {
    name: 'dockwatch_host_cpu_core_percent',
    help: 'Per-core CPU busy percent over the last interval.',
    type: 'gauge',
    series: (snap) => snap.hosts.flatMap((h) =>
      (h.sample?.cpuPerCorePercent ?? []).map((v, i) => ({ labels: { host: h.hostname, core: String(i) }, value: v }))),
  },
  perHost('dockwatch_host_load1', '1-minute load average.', 'gauge', (h) => sampleOf(h, (s) => s.load1)),
  perHost('dockwatch_host_load5', '5-minute load average.', 'gauge', (h) => sampleOf(h, (s) => s.load5)),
  perHost('dockwatch_host_load15', '15-minute load average.', 'gauge', (h) => sampleOf(h, (s) => s.load15)),
  perHost('dockwatch_host_memory_total_bytes', 'Total RAM.', 'gauge', (h) => sampleOf(h, (s) => s.memTotalBytes)),
  perHost('dockwatch_host_memory_available_bytes', 'RAM available for new work (MemAvailable).', 'gauge',
    (h) => sampleOf(h, (s) => s.memAvailableBytes)),
  perHost('dockwatch_host_memory_used_bytes', 'RAM in use (total minus available).', 'gauge', (h) => sampleOf(h, (s) => s.memUsedBytes)),
  perHost('dockwatch_host_swap_total_bytes', 'Total swap.', 'gauge', (h) => sampleOf(h, (s) => s.swapTotalBytes)),
  perHost('dockwatch_host_swap_used_bytes', 'Swap in use.', 'gauge', (h) => sampleOf(h, (s) => s.swapUsedBytes)),
  ...(['total', 'used'] as const).map((kind): FamilyDef => ({
    name: `dockwatch_host_disk_${kind}_bytes`,
    help: kind === 'total' ? 'Size of a mounted filesystem.' : 'Space used on a mounted filesystem.',
    type: 'gauge',
    series: (snap) => snap.hosts.flatMap((h) => (h.sample?.disks ?? []).map((d) => ({
      labels: { host: h.hostname, mount: d.mount, device: d.device, fstype: d.fsType },
      value: kind === 'total' ? d.totalBytes : d.usedBytes,
    }))),
  })),
  perHost('dockwatch_host_network_receive_bytes_total', 'Bytes received on all non-loopback interfaces since boot.', 'counter',
    (h) => sampleOf(h, (s) => s.netRxBytes)),
  perHost('dockwatch_host_network_transmit_bytes_total', 'Bytes transmitted on all non-loopback interfaces since boot.', 'counter',
    (h) => sampleOf(h, (s) => s.netTxBytes)),
  perHost('dockwatch_host_uptime_seconds', 'Seconds since the host booted.', 'gauge', (h) => sampleOf(h, (s) => s.uptimeSeconds)),
];

/**
 * Two series with the same labels would make Prometheus refuse the whole scrape (e.g. two
 * agents reporting the same hostname); the last one wins.
 */
export function dedupeSeries(series: Series[]): Series[] {
  const byKey = new Map<string, Series>();
  for (const s of series) {
    const key = Object.keys(s.labels).sort().map((k) => `${k}\u0000${s.labels[k]}`).join('\u0001');
    byKey.set(key, s);
  }
  return [...byKey.values()];
}
