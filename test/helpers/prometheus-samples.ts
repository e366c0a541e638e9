// Sample builders for the Prometheus and `top` tests.
import type { ContainerSample, HostSample, MetricBatch } from '../../src/domain/types.js';

export function containerSample(over: Partial<ContainerSample> & { id: string; name: string }): ContainerSample {
  return {
    image: 'dockwatch-test/busybox:latest',
    labels: {},
    state: 'running',
    health: 'none',
    restartCount: 0,
    exitCode: 0,
    oomKilled: false,
    startedAtMs: 1_700_000_000_000,
    timestampMs: Date.now(),
    cpuPercent: 0,
    cpuUsageNs: 0,
    onlineCpus: 2,
    memUsageBytes: 0,
    memLimitBytes: 0,
    memPercent: 0,
    memRawUsageBytes: 0,
    netRxBytes: 0,
    netTxBytes: 0,
    blkReadBytes: 0,
    blkWriteBytes: 0,
    pids: 1,
    source: 'cgroup',
    ...over,
  };
}

export function hostSample(over: Partial<HostSample> = {}): HostSample {
  return {
    timestampMs: Date.now(),
    numCpus: 2,
    cpuPercent: 12.5,
    cpuPerCorePercent: [10, 15],
    load1: 0.5,
    load5: 0.4,
    load15: 0.3,
    memTotalBytes: 8 * 2 ** 30,
    memAvailableBytes: 6 * 2 ** 30,
    memUsedBytes: 2 * 2 ** 30,
    memPercent: 25,
    swapTotalBytes: 0,
    swapUsedBytes: 0,
    disks: [{ mount: '/', device: '/dev/sda1', fsType: 'ext4', totalBytes: 100e9, usedBytes: 40e9, usedPercent: 40 }],
    netRxBytes: 1000,
    netTxBytes: 2000,
    uptimeSeconds: 3600,
    runtimeAvailable: true,
    ...over,
  };
}

export function batch(over: Partial<MetricBatch> & { hostname: string }): MetricBatch {
  return {
    agentId: over.hostname,
    sequence: 1,
    timestampMs: Date.now(),
    host: null,
    containers: [],
    events: [],
    complete: true,
    intervalMs: 1000,
    ...over,
  };
}

export interface ParsedSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Reads Prometheus text exposition (the subset prom-client writes) into series. */
export function parseExposition(text: string): { series: ParsedSeries[]; types: Map<string, string> } {
  const series: ParsedSeries[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let lm = re.exec(m[2] ?? ''); lm; lm = re.exec(m[2] ?? '')) {
      labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    series.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { series, types };
}
