import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinuteRollups, type RollupOutput } from '../../src/domain/minute-rollup.js';
import { aggregate, type MetricDef } from '../../src/domain/rollup.js';

type K = 'cpu' | 'bytes';
const METRICS: MetricDef<K>[] = [{ key: 'cpu', column: 'cpu', agg: 'mean' }, { key: 'bytes', column: 'bytes', agg: 'max' }];
const T0 = Date.parse('2026-11-20T10:00:00Z');
const out = (): RollupOutput<string> => ({ rows: [], uncertain: [] });
const sample = (i: number): Record<K, number> => ({ cpu: (i % 7) * 1.5, bytes: 1000 * i });

/** Feeds samples every `stepMs` from `fromMs` for `n` steps; returns what came out. */
function feed(r: MinuteRollups<K, string>, fromMs: number, n: number, stepMs = 1000, o = out(), key = 'c1'): RollupOutput<string> {
  for (let i = 0; i < n; i++) r.add('h1', key, key, fromMs + i * stepMs, sample(i), stepMs * 1.5, o);
  return o;
}

test('minutes seen whole are summed; the first minute of a series is left to the raw points', () => {
  const r = new MinuteRollups<K, string>(METRICS);
  const o = feed(r, T0 + 500, 200); // 3 minutes and a bit
  assert.deepEqual(o.uncertain.map((u) => u.minuteMs), [T0], 'first minute: earlier samples may be elsewhere');
  assert.deepEqual(o.rows.map((x) => x.minuteMs), [T0 + 60_000, T0 + 120_000]);
  const want = aggregate(Array.from({ length: 200 }, (_, i) => ({ timestampMs: T0 + 500 + i * 1000, values: sample(i) })), 60_000, METRICS);
  for (const row of o.rows) {
    const w = want.find((p) => p.timestampMs === row.minuteMs)!;
    assert.equal(row.counts[0], 60);
    assert.ok(Math.abs(row.sums[0]! / row.counts[0]! - w.values.cpu!) < 1e-9);
    assert.equal(row.maxes[1], w.values.bytes);
    assert.equal(row.group, 'h1');
    assert.equal(row.series, 'c1');
  }
  assert.equal(r.size(), 1, 'the fourth minute is still open');
});

test('a gap, a repeat or an out-of-order sample makes that minute uncertain, not wrong', () => {
  // Gap: one sample missing in the second minute.
  const r = new MinuteRollups<K, string>(METRICS);
  const o = out();
  for (let i = 0; i < 180; i++) if (i !== 90) r.add('h1', 'c1', 'c1', T0 + i * 1000, sample(i), 1500, o);
  assert.deepEqual(o.rows.map((x) => x.minuteMs), [], 'minute 1 has the gap, minute 2 is still open');
  assert.deepEqual(o.uncertain.map((u) => u.minuteMs), [T0, T0 + 60_000]);

  // A repeat of an old sample (an agent resending) reports its minute; the open one stays whole.
  const r2 = new MinuteRollups<K, string>(METRICS);
  const o2 = feed(r2, T0, 150);
  r2.add('h1', 'c1', 'c1', T0 + 70_000, sample(70), 1500, o2);
  feed(r2, T0 + 150_000, 40, 1000, o2);
  assert.deepEqual(o2.uncertain.map((u) => u.minuteMs), [T0, T0 + 60_000]);
  assert.deepEqual(o2.rows.map((x) => x.minuteMs), [T0 + 60_000, T0 + 120_000], 'minute 1 was emitted before the repeat; its recomputation follows');

  // A repeat inside the open minute spoils that minute only.
  const r3 = new MinuteRollups<K, string>(METRICS);
  const o3 = feed(r3, T0, 100);
  r3.add('h1', 'c1', 'c1', T0 + 95_000, sample(95), 1500, o3);
  feed(r3, T0 + 100_000, 90, 1000, o3);
  assert.deepEqual(o3.rows.map((x) => x.minuteMs), [T0 + 120_000]);
  assert.deepEqual(o3.uncertain.map((u) => u.minuteMs), [T0, T0 + 60_000]);
});

test('series are kept apart by group and key; quiet series are swept as uncertain', () => {
  const r = new MinuteRollups<K, string>(METRICS);
  const o = out();
  for (let i = 0; i < 130; i++) {
    r.add('h1', 'c1', 'c1', T0 + i * 1000, sample(i), 1500, o);
    r.add('h2', 'c1', 'c1@h2', T0 + i * 1000 + 1, { cpu: 50, bytes: 7 }, 1500, o);
  }
  const m1 = o.rows.filter((x) => x.minuteMs === T0 + 60_000);
  assert.equal(m1.length, 2);
  assert.equal(m1.find((x) => x.group === 'h2')!.sums[0], 50 * 60);
  assert.equal(r.size(), 2);
  const swept = out();
  r.sweep(T0 + 180_000 + 59_999, 60_000, swept);
  assert.equal(swept.uncertain.length, 0, 'not quiet long enough');
  r.sweep(T0 + 180_000 + 60_000, 60_000, swept);
  assert.deepEqual(swept.uncertain.map((u) => [u.group, u.minuteMs]), [['h1', T0 + 120_000], ['h2', T0 + 120_000]]);
  assert.equal(r.size(), 0);
  const rest = out();
  feed(r, T0 + 300_000, 5, 1000, rest);
  r.drainAll(rest);
  assert.deepEqual(rest.uncertain.map((u) => u.minuteMs), [T0 + 300_000], 'after a sweep a series starts over as first seen');
});

test('non-finite values are skipped per metric, as count() and sum() skip missing fields', () => {
  const r = new MinuteRollups<K, string>(METRICS);
  const o = out();
  for (let i = 0; i < 130; i++) r.add('h', 'k', 'k', T0 + i * 1000, { cpu: i % 2 ? NaN : 2, bytes: i }, 1500, o);
  const row = o.rows[0]!;
  assert.equal(row.counts[0], 30);
  assert.equal(row.sums[0], 60);
  assert.equal(row.counts[1], 60);
  assert.equal(row.maxes[1], 119);
});
