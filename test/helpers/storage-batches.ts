// Realistic agent batches for the storage tests and the ingest benchmark.
import type { ContainerSample, HostSample, MetricBatch } from '../../src/domain/types.js';

export function containerSample(id: string, ts: number, i: number): ContainerSample {
  return {
    id, name: `web-${id.slice(0, 6)}`, image: 'nginx:1.27', labels: { app: 'web' }, state: 'running', health: 'none',
    restartCount: 0, exitCode: 0, oomKilled: false, startedAtMs: ts - 3_600_000, timestampMs: ts,
    cpuPercent: 5 + (i % 17) * 1.25, cpuUsageNs: 1e9 * i, onlineCpus: 2,
    memUsageBytes: 50_000_000 + (i % 13) * 1_000_000, memLimitBytes: 512 * 1024 * 1024,
    memPercent: (50_000_000 + (i % 13) * 1_000_000) / (512 * 1024 * 1024) * 100,
    memRawUsageBytes: 60_000_000, netRxBytes: 1000 * i, netTxBytes: 500 * i,
    blkReadBytes: 4096 * i, blkWriteBytes: 8192 * i, pids: 3 + (i % 4), source: 'cgroup',
  };
}

export function hostSample(ts: number, i: number): HostSample {
  return {
    timestampMs: ts, numCpus: 2, cpuPercent: 20 + (i % 9), cpuPerCorePercent: [20, 21], load1: 0.5 + (i % 5) / 10,
    load5: 0.4, load15: 0.3, memTotalBytes: 24e9, memAvailableBytes: 20e9, memUsedBytes: 4e9 + i, memPercent: 16.6,
    swapTotalBytes: 0, swapUsedBytes: 0, disks: [], netRxBytes: 10_000 * i, netTxBytes: 5_000 * i,
    uptimeSeconds: 1000 + i, runtimeAvailable: true,
  };
}

export const containerIds = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, k) => `${prefix}${String(k).padStart(4, '0')}`.padEnd(64, 'a'));

/** Batch number `i` of an agent: one sample per container at `ts`. */
export function makeBatch(agentId: string, hostname: string, ids: string[], ts: number, i: number, withHost = true): MetricBatch {
  return {
    agentId, hostname, sequence: 1_000_000 + i, timestampMs: ts,
    host: withHost ? hostSample(ts, i) : null,
    containers: ids.map((id) => containerSample(id, ts, i)),
    events: [], complete: true, intervalMs: 1000,
  };
}
