// The JSON shapes of the public HTTP/WebSocket API (snake_case, documented in README).
import type { HostInfo, HostSample, HostedContainerSample } from '../../domain/types.js';

export function presentContainer(c: HostedContainerSample) {
  return {
    id: c.id,
    name: c.name,
    image: c.image,
    host: c.host,
    agent_id: c.agentId,
    state: c.state,
    health: c.health,
    labels: c.labels,
    restart_count: c.restartCount,
    exit_code: c.exitCode,
    oom_killed: c.oomKilled,
    started_at: c.startedAtMs ? new Date(c.startedAtMs).toISOString() : null,
    source: c.source,
    stats: {
      cpu_percent: round(c.cpuPercent, 2),
      cpu_usage_ns: c.cpuUsageNs,
      mem_usage_bytes: c.memUsageBytes,
      mem_limit_bytes: c.memLimitBytes,
      mem_percent: round(c.memPercent, 2),
      net_rx_bytes: c.netRxBytes,
      net_tx_bytes: c.netTxBytes,
      blk_read_bytes: c.blkReadBytes,
      blk_write_bytes: c.blkWriteBytes,
      pids: c.pids,
      ts: c.timestampMs,
    },
  };
}

export function presentHostSample(s: HostSample) {
  return {
    ts: s.timestampMs,
    num_cpus: s.numCpus,
    cpu_percent: round(s.cpuPercent, 2),
    cpu_per_core_percent: s.cpuPerCorePercent.map((v) => round(v, 2)),
    load1: s.load1,
    load5: s.load5,
    load15: s.load15,
    mem_total_bytes: s.memTotalBytes,
    mem_available_bytes: s.memAvailableBytes,
    mem_used_bytes: s.memUsedBytes,
    mem_percent: round(s.memPercent, 2),
    swap_total_bytes: s.swapTotalBytes,
    swap_used_bytes: s.swapUsedBytes,
    disks: s.disks.map((d) => ({
      mount: d.mount, device: d.device, fs_type: d.fsType,
      total_bytes: d.totalBytes, used_bytes: d.usedBytes, used_percent: round(d.usedPercent, 2),
    })),
    net_rx_bytes: s.netRxBytes,
    net_tx_bytes: s.netTxBytes,
    uptime_seconds: s.uptimeSeconds,
    runtime_available: s.runtimeAvailable,
  };
}

/** An agent not heard from for this many collection intervals shows as offline. */
export const OFFLINE_AFTER_INTERVALS = 3;

export function presentHost(h: HostInfo, now: number = Date.now(), containersByState?: Record<string, number>) {
  const offlineAfterMs = OFFLINE_AFTER_INTERVALS * Math.max(1, h.intervalMs);
  return {
    id: h.agentId,
    hostname: h.hostname,
    last_seen: new Date(h.lastSeenMs).toISOString(),
    last_seen_ms: h.lastSeenMs,
    interval_ms: h.intervalMs,
    // From the server's receive time, so agent clock skew does not matter.
    status: now - h.lastSeenMs > offlineAfterMs ? 'offline' : 'online',
    offline_after_ms: offlineAfterMs,
    container_count: h.containerCount,
    ...(containersByState ? { containers_by_state: containersByState } : {}),
    sample: h.sample ? presentHostSample(h.sample) : null,
  };
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
