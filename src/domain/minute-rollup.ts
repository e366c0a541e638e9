// 1-minute rollups computed from the stream itself, as samples arrive.
//
// Why: an InfluxDB 1.x continuous query re-reads raw points to roll them up; reading a point
// costs influxd a third to a half of what writing it did, and RESAMPLE FOR 10m read each one ten
// times (decision 005). The server holds every sample anyway, so it sums as they pass.
//
// A minute's row is only emitted when this process provably saw all of it: consecutive samples
// of the series, including the last one before the minute and the first one after it, are at
// most `gapMs` apart and in order. Anything else (the first minute of a series in this process,
// a gap, a sample out of order or repeated, a series that went quiet) is reported as
// *uncertain*, and the caller recomputes that minute from the raw points it stored (which
// hold whatever another replica or an earlier process took). Raw points stay the truth.
import type { MetricDef } from './rollup.js';

export const ROLLUP_MINUTE_MS = 60_000;

/** One series' minute: per metric the sum and count of finite values (gauges) and the max. */
export interface MinuteRow<S> {
  group: string;
  series: S;
  minuteMs: number;
  sums: number[];
  counts: number[];
  maxes: number[];
}

export interface UncertainMinute<S> { group: string; series: S; minuteMs: number }

export interface RollupOutput<S> {
  rows: MinuteRow<S>[];
  uncertain: UncertainMinute<S>[];
}

interface OpenMinute<S> {
  group: string;
  series: S;
  minuteMs: number;
  lastTs: number;
  /** Every sample of the minute so far seen, in order, without gaps. */
  whole: boolean;
  sums: number[];
  counts: number[];
  maxes: number[];
}

const minuteOf = (ts: number): number => Math.floor(ts / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS;

export class MinuteRollups<K extends string, S> {
  // group (host) -> series key (container id) -> open minute: two lookups, no joined key string.
  private readonly open = new Map<string, Map<string, OpenMinute<S>>>();

  constructor(private readonly metrics: readonly MetricDef<K>[]) {}

  /** Open series (for tests and health). */
  size(): number {
    let n = 0;
    for (const g of this.open.values()) n += g.size;
    return n;
  }

  /**
   * Adds one sample. `gapMs`: the longest spacing of consecutive samples that still counts as
   * "none missed" (the agent's interval and some jitter).
   */
  add(group: string, key: string, series: S, ts: number, sample: Readonly<Record<K, number>>, gapMs: number, out: RollupOutput<S>): void {
    let byKey = this.open.get(group);
    if (!byKey) { byKey = new Map(); this.open.set(group, byKey); }
    const cur = byKey.get(key);
    const minuteMs = minuteOf(ts);
    if (!cur) {
      // First sample of the series here: earlier samples of this minute may be elsewhere.
      byKey.set(key, this.start(group, series, minuteMs, ts, false, sample));
      return;
    }
    if (ts <= cur.lastTs) {
      // Repeated or out of order: the minute it belongs to cannot be trusted from memory.
      const m = minuteOf(ts);
      if (m === cur.minuteMs) cur.whole = false;
      else out.uncertain.push({ group, series: cur.series, minuteMs: m });
      return;
    }
    const contiguous = ts - cur.lastTs <= gapMs;
    if (minuteMs === cur.minuteMs) {
      if (!contiguous) cur.whole = false;
      cur.lastTs = ts;
      this.accumulate(cur, sample);
      return;
    }
    // A later minute: the open one is over.
    this.close(cur, cur.whole && contiguous, out);
    // Nothing missed since the last sample: this minute's start was seen too.
    byKey.set(key, this.start(group, series, minuteMs, ts, contiguous, sample));
  }

  /**
   * Ends minutes whose series went quiet: open minutes that ended more than `idleMs` before
   * `nowMs` are reported uncertain (the next sample may come to another replica, or never).
   */
  sweep(nowMs: number, idleMs: number, out: RollupOutput<S>): void {
    for (const [group, byKey] of this.open) {
      for (const [key, cur] of byKey) {
        if (cur.minuteMs + ROLLUP_MINUTE_MS + idleMs <= nowMs) {
          out.uncertain.push({ group, series: cur.series, minuteMs: cur.minuteMs });
          byKey.delete(key);
        }
      }
      if (byKey.size === 0) this.open.delete(group);
    }
  }

  /** Reports every open minute uncertain and forgets them (shutdown). */
  drainAll(out: RollupOutput<S>): void {
    this.sweep(Infinity, 0, out);
  }

  private start(group: string, series: S, minuteMs: number, ts: number, whole: boolean, sample: Readonly<Record<K, number>>): OpenMinute<S> {
    const n = this.metrics.length;
    const m: OpenMinute<S> = {
      group, series, minuteMs, lastTs: ts, whole,
      sums: new Array<number>(n).fill(0), counts: new Array<number>(n).fill(0), maxes: new Array<number>(n).fill(-Infinity),
    };
    this.accumulate(m, sample);
    return m;
  }

  private accumulate(m: OpenMinute<S>, sample: Readonly<Record<K, number>>): void {
    for (let i = 0; i < this.metrics.length; i++) {
      const v = sample[this.metrics[i]!.key];
      if (!Number.isFinite(v)) continue;
      m.sums[i]! += v;
      m.counts[i]!++;
      if (v > m.maxes[i]!) m.maxes[i] = v;
    }
  }

  private close(m: OpenMinute<S>, whole: boolean, out: RollupOutput<S>): void {
    if (whole) out.rows.push({ group: m.group, series: m.series, minuteMs: m.minuteMs, sums: m.sums, counts: m.counts, maxes: m.maxes });
    else out.uncertain.push({ group: m.group, series: m.series, minuteMs: m.minuteMs });
  }
}
