// Batches, a capturing logger and small waits for the gRPC / ingest tests.
import type { ContainerSample, HostSample, MetricBatch } from '../../src/domain/types.js';
import type { Logger } from '../../src/application/ports.js';

export interface LogRecord { level: string; obj: unknown; msg: string | undefined }

export function testLogger(records: LogRecord[] = []): Logger & { records: LogRecord[] } {
  const make = (bindings: Record<string, unknown>): Logger & { records: LogRecord[] } => {
    const at = (level: string) => (obj: object | string, msg?: string) => {
      records.push({ level, obj: typeof obj === 'string' ? { ...bindings, msg: obj } : { ...bindings, ...obj }, msg });
    };
    return {
      records,
      debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make({});
}

export function container(id: string, over: Partial<ContainerSample> = {}): ContainerSample {
  const now = Date.now();
  return {
    id, name: `c-${id}`, image: 'dockwatch-test/busybox:latest', labels: {}, state: 'running', health: 'none',
    restartCount: 0, exitCode: 0, oomKilled: false, startedAtMs: now - 60_000, timestampMs: now,
    cpuPercent: 12.5, cpuUsageNs: 123_456_789, onlineCpus: 2, memUsageBytes: 10_485_760,
    memLimitBytes: 1_073_741_824, memPercent: 0.98, memRawUsageBytes: 12_000_000,
    netRxBytes: 1000, netTxBytes: 2000, blkReadBytes: 4096, blkWriteBytes: 8192, pids: 3, source: 'cgroup',
    ...over,
  };
}

export function hostSample(over: Partial<HostSample> = {}): HostSample {
  return {
    timestampMs: Date.now(), numCpus: 2, cpuPercent: 33.3, cpuPerCorePercent: [30, 36.6], load1: 0.5, load5: 0.4,
    load15: 0.3, memTotalBytes: 8e9, memAvailableBytes: 4e9, memUsedBytes: 4e9, memPercent: 50, swapTotalBytes: 0,
    swapUsedBytes: 0, disks: [{ mount: '/', device: '/dev/sda1', fsType: 'ext4', totalBytes: 1e11, usedBytes: 5e10, usedPercent: 50 }],
    netRxBytes: 10, netTxBytes: 20, uptimeSeconds: 3600, runtimeAvailable: true,
    ...over,
  };
}

export function batch(agentId: string, sequence: number, over: Partial<MetricBatch> = {}): MetricBatch {
  return {
    agentId, hostname: `${agentId}-host`, sequence, timestampMs: Date.now(), host: hostSample(),
    containers: [container(`${agentId}-a`), container(`${agentId}-b`)], events: [], complete: true, intervalMs: 1000,
    ...over,
  };
}

/** Polls until cond() is true; fails after timeoutMs with the message. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
