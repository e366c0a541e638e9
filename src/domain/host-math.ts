// Host metric math over /proc counters. Pure.

/** One CPU's (or the aggregate's) jiffies: total of all states, and the idle part (idle + iowait). */
export interface CpuTimes {
  total: number;
  idle: number;
}

/** Busy % between two readings; 0 when there is no elapsed time or a counter went backwards. */
export function cpuBusyPercent(prev: CpuTimes | undefined, cur: CpuTimes): number {
  if (!prev) return 0;
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  if (!(total > 0) || idle < 0 || idle > total) return 0;
  return round2(((total - idle) / total) * 100);
}

/** Used memory the way `free` counts it nowadays: total minus MemAvailable. */
export function memUsed(totalBytes: number, availableBytes: number): number {
  return totalBytes > availableBytes ? totalBytes - availableBytes : 0;
}

export function percentOf(part: number, whole: number): number {
  if (!(whole > 0) || !(part > 0)) return 0;
  return round2(Math.min(100, (part / whole) * 100));
}

export function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
