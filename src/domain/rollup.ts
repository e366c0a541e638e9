// Pure helpers for history: which metrics a series carries and how each aggregates, nice
// step choice, bucketing, and which retention tier answers a query. Both stores (embedded
// and InfluxDB) use these so a chart looks the same whichever store is configured.
import type { ContainerSample, HostSample } from './types.js';

/** Gauges average over a bucket; cumulative counters take the bucket's max (= last value). */
export type Aggregation = 'mean' | 'max';

export interface MetricDef<K extends string> {
  /** Name in API responses (camelCase, as in the domain types). */
  key: K;
  /** Column / InfluxDB field name. */
  column: string;
  agg: Aggregation;
}

export type ContainerMetricKey =
  | 'cpuPercent' | 'memUsageBytes' | 'memLimitBytes' | 'memPercent' | 'netRxBytes' | 'netTxBytes'
  | 'blkReadBytes' | 'blkWriteBytes' | 'pids';

export const CONTAINER_METRICS: readonly MetricDef<ContainerMetricKey>[] = [
  { key: 'cpuPercent', column: 'cpu_percent', agg: 'mean' },
  { key: 'memUsageBytes', column: 'mem_usage_bytes', agg: 'mean' },
  { key: 'memLimitBytes', column: 'mem_limit_bytes', agg: 'max' },
  { key: 'memPercent', column: 'mem_percent', agg: 'mean' },
  { key: 'netRxBytes', column: 'net_rx_bytes', agg: 'max' },
  { key: 'netTxBytes', column: 'net_tx_bytes', agg: 'max' },
  { key: 'blkReadBytes', column: 'blk_read_bytes', agg: 'max' },
  { key: 'blkWriteBytes', column: 'blk_write_bytes', agg: 'max' },
  { key: 'pids', column: 'pids', agg: 'mean' },
];

export type HostMetricKey =
  | 'cpuPercent' | 'load1' | 'load5' | 'load15' | 'memUsedBytes' | 'memTotalBytes' | 'memPercent'
  | 'swapUsedBytes' | 'netRxBytes' | 'netTxBytes' | 'numCpus';

export const HOST_METRICS: readonly MetricDef<HostMetricKey>[] = [
  { key: 'cpuPercent', column: 'cpu_percent', agg: 'mean' },
  { key: 'load1', column: 'load1', agg: 'mean' },
  { key: 'load5', column: 'load5', agg: 'mean' },
  { key: 'load15', column: 'load15', agg: 'mean' },
  { key: 'memUsedBytes', column: 'mem_used_bytes', agg: 'mean' },
  { key: 'memTotalBytes', column: 'mem_total_bytes', agg: 'max' },
  { key: 'memPercent', column: 'mem_percent', agg: 'mean' },
  { key: 'swapUsedBytes', column: 'swap_used_bytes', agg: 'mean' },
  { key: 'netRxBytes', column: 'net_rx_bytes', agg: 'max' },
  { key: 'netTxBytes', column: 'net_tx_bytes', agg: 'max' },
  { key: 'numCpus', column: 'num_cpus', agg: 'max' },
];

export const containerValues = (s: ContainerSample): Record<ContainerMetricKey, number> => ({
  cpuPercent: s.cpuPercent, memUsageBytes: s.memUsageBytes, memLimitBytes: s.memLimitBytes,
  memPercent: s.memPercent, netRxBytes: s.netRxBytes, netTxBytes: s.netTxBytes,
  blkReadBytes: s.blkReadBytes, blkWriteBytes: s.blkWriteBytes, pids: s.pids,
});

export const hostValues = (h: HostSample): Record<HostMetricKey, number> => ({
  cpuPercent: h.cpuPercent, load1: h.load1, load5: h.load5, load15: h.load15,
  memUsedBytes: h.memUsedBytes, memTotalBytes: h.memTotalBytes, memPercent: h.memPercent,
  swapUsedBytes: h.swapUsedBytes, netRxBytes: h.netRxBytes, netTxBytes: h.netTxBytes, numCpus: h.numCpus,
});

/** One aggregated bucket of a series; a metric is null when the bucket had no value for it. */
export interface SeriesPoint {
  timestampMs: number;
  values: Record<string, number | null>;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Steps a human reads easily; every one from 1 minute up divides a day. */
export const NICE_STEPS_MS: readonly number[] = [
  SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY,
];

/** The smallest nice step giving at most `maxPoints` buckets over the range (at least 1 s). */
export function autoStepMs(rangeMs: number, maxPoints = 1000): number {
  const raw = Math.max(1, rangeMs) / Math.max(1, maxPoints);
  for (const s of NICE_STEPS_MS) if (s >= raw) return s;
  // Longer than a day per point: whole days.
  return Math.ceil(raw / DAY) * DAY;
}

/** Number of buckets a range gives at a step (partial buckets at both ends count). */
export function bucketCount(fromMs: number, toMs: number, stepMs: number): number {
  if (toMs < fromMs || stepMs <= 0) return 0;
  return Math.floor(toMs / stepMs) - Math.floor(fromMs / stepMs) + 1;
}

/** Start of the bucket holding `ts`; buckets align on the epoch so every store agrees. */
export const bucketStart = (ts: number, stepMs: number): number => Math.floor(ts / stepMs) * stepMs;

export interface RawPoint {
  timestampMs: number;
  values: Record<string, number>;
  /** How many raw samples this point stands for (1 for raw data, n for a rollup row). */
  weight?: number;
}

/**
 * Aggregate points into step buckets the way the stores do in SQL/InfluxQL: weighted mean for
 * gauges, max for counters. Used for rollups in memory and as the reference in tests.
 */
export function aggregate<K extends string>(
  points: readonly RawPoint[], stepMs: number, metrics: readonly MetricDef<K>[],
): SeriesPoint[] {
  const buckets = new Map<number, { sum: Record<string, number>; w: Record<string, number>; max: Record<string, number> }>();
  for (const p of points) {
    const b = bucketStart(p.timestampMs, stepMs);
    let acc = buckets.get(b);
    if (!acc) { acc = { sum: {}, w: {}, max: {} }; buckets.set(b, acc); }
    const weight = p.weight ?? 1;
    for (const m of metrics) {
      const v = p.values[m.key];
      if (v === undefined || !Number.isFinite(v)) continue;
      acc.sum[m.key] = (acc.sum[m.key] ?? 0) + v * weight;
      acc.w[m.key] = (acc.w[m.key] ?? 0) + weight;
      acc.max[m.key] = Math.max(acc.max[m.key] ?? -Infinity, v);
    }
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([ts, acc]) => {
    const values: Record<string, number | null> = {};
    for (const m of metrics) {
      const w = acc.w[m.key];
      if (!w) { values[m.key] = null; continue; }
      values[m.key] = m.agg === 'max' ? acc.max[m.key]! : acc.sum[m.key]! / w;
    }
    return { timestampMs: ts, values };
  });
}

// ---------- retention tiers ----------

export type TierName = 'raw' | '1m' | '10m';

export interface Tier {
  name: TierName;
  /** Bucket width of the tier (0 for raw). */
  resolutionMs: number;
  /** How long the tier keeps data. */
  keepMs: number;
}

/** Raw for a day, 1-minute rollups for a week, 10-minute rollups for the whole retention (capped by it). */
export function retentionTiers(retentionDays: number, rawDays = 1, minuteDays = 7): Tier[] {
  const total = Math.max(1, retentionDays) * DAY;
  return [
    { name: 'raw', resolutionMs: 0, keepMs: Math.min(rawDays * DAY, total) },
    { name: '1m', resolutionMs: MINUTE, keepMs: Math.min(minuteDays * DAY, total) },
    { name: '10m', resolutionMs: 10 * MINUTE, keepMs: total },
  ];
}

/**
 * The coarsest tier that still answers a query exactly: its resolution must divide the step
 * (so rollup rows never straddle a bucket) and it must still hold data at `fromMs`.
 * Falls back to the finest tier that holds `fromMs` (sparser points, still right), or the longest-kept one.
 */
export function chooseTier(tiers: readonly Tier[], fromMs: number, stepMs: number, nowMs: number): Tier {
  const holds = (t: Tier): boolean => fromMs >= nowMs - t.keepMs;
  const exact = tiers.filter((t) => holds(t) && (t.resolutionMs === 0 || stepMs % t.resolutionMs === 0));
  if (exact.length > 0) return exact.reduce((a, b) => (b.resolutionMs > a.resolutionMs ? b : a));
  const holding = tiers.filter(holds);
  if (holding.length > 0) return holding.reduce((a, b) => (b.resolutionMs < a.resolutionMs ? b : a));
  return tiers.reduce((a, b) => (b.keepMs > a.keepMs ? b : a));
}
