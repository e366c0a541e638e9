// Builders for synthetic agent batches used by the alerting tests.
import type { ContainerEvent, ContainerSample, HostSample, MetricBatch } from '../../src/domain/types.js';

export function sample(p: Partial<ContainerSample> & { id: string }): ContainerSample {
  return {
    name: p.id, image: 'img', labels: {}, state: 'running', health: 'none', restartCount: 0, exitCode: 0,
    oomKilled: false, startedAtMs: 1, timestampMs: 0, cpuPercent: 1, cpuUsageNs: 0, onlineCpus: 2,
    memUsageBytes: 0, memLimitBytes: 0, memPercent: 1, memRawUsageBytes: 0, netRxBytes: 0, netTxBytes: 0,
    blkReadBytes: 0, blkWriteBytes: 0, pids: 1, source: 'cgroup', ...p,
  };
}

export function event(p: Partial<ContainerEvent> & { containerId: string; action: string; timestampMs: number }): ContainerEvent {
  return { containerName: p.containerId, exitCode: 0, health: '', attributes: {}, ...p };
}

export function hostSample(p: Partial<HostSample> = {}): HostSample {
  return {
    timestampMs: 0, numCpus: 2, cpuPercent: 1, cpuPerCorePercent: [1, 1], load1: 0, load5: 0, load15: 0,
    memTotalBytes: 1, memAvailableBytes: 1, memUsedBytes: 0, memPercent: 1, swapTotalBytes: 0, swapUsedBytes: 0,
    disks: [], netRxBytes: 0, netTxBytes: 0, uptimeSeconds: 1, runtimeAvailable: true, ...p,
  };
}

let seq = 1;
export function batch(p: Partial<MetricBatch> & { timestampMs: number }): MetricBatch {
  return {
    agentId: 'agent-a', hostname: 'host-a', sequence: seq++, host: null, containers: [], events: [],
    complete: true, intervalMs: 1000, ...p,
  };
}
