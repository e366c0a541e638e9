import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aggregate, autoStepMs, bucketCount, bucketStart, chooseTier, CONTAINER_METRICS, retentionTiers, type RawPoint,
} from '../../src/domain/rollup.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

test('autoStepMs picks the smallest nice step giving at most 1000 points', () => {
  const cases: Array<[number, number]> = [
    [HOUR, 5_000], // 3.6 s -> 5 s
    [15 * MIN, 1_000], // 0.9 s -> 1 s
    [DAY, 2 * MIN], // 86.4 s -> 2 m
    [7 * DAY, 15 * MIN], // 604.8 s -> 15 m
    [30 * DAY, 1 * HOUR], // 2592 s -> 1 h
    [3000 * DAY, 3 * DAY], // beyond the table: whole days
  ];
  for (const [range, want] of cases) {
    const got = autoStepMs(range);
    assert.equal(got, want, `range ${range}`);
    assert.ok(bucketCount(0, range, got) <= 1001, `range ${range} gives too many points`);
  }
});

test('bucketCount counts partial buckets at both ends', () => {
  assert.equal(bucketCount(0, 59_999, MIN), 1);
  assert.equal(bucketCount(30_000, 90_000, MIN), 2);
  assert.equal(bucketCount(10, 5, MIN), 0);
  assert.equal(bucketStart(125_000, MIN), 120_000);
});

test('aggregate: weighted mean for gauges, max for counters, null when missing', () => {
  const pts: RawPoint[] = [
    { timestampMs: 0, values: { cpuPercent: 10, netRxBytes: 100 } },
    { timestampMs: 30_000, values: { cpuPercent: 30, netRxBytes: 300 }, weight: 3 },
    { timestampMs: 60_000, values: { netRxBytes: 400 } },
  ];
  const out = aggregate(pts, MIN, CONTAINER_METRICS);
  assert.equal(out.length, 2);
  assert.equal(out[0]!.timestampMs, 0);
  assert.equal(out[0]!.values.cpuPercent, (10 + 90) / 4);
  assert.equal(out[0]!.values.netRxBytes, 300);
  assert.equal(out[0]!.values.pids, null);
  assert.equal(out[1]!.values.cpuPercent, null);
  assert.equal(out[1]!.values.netRxBytes, 400);
});

test('chooseTier: coarsest tier that divides the step and still holds the start', () => {
  const tiers = retentionTiers(30);
  const now = 100 * DAY;
  const cases: Array<[number, number, string]> = [
    [now - HOUR, 5_000, 'raw'],
    [now - HOUR, MIN, '1m'],
    [now - DAY, 2 * MIN, '1m'],
    [now - DAY, 30 * MIN, '10m'],
    [now - 3 * DAY, 2 * MIN, '1m'],
    [now - 3 * DAY, 5_000, '1m'], // raw is gone there: best that holds
    [now - 20 * DAY, 15 * MIN, '10m'],
    [now - 90 * DAY, HOUR, '10m'], // older than retention: the longest kept
  ];
  for (const [from, step, want] of cases) {
    assert.equal(chooseTier(tiers, from, step, now).name, want, `from now-${(now - from) / HOUR}h step ${step}`);
  }
});

test('retentionTiers caps every tier at the retention', () => {
  const t = retentionTiers(3);
  assert.deepEqual(t.map((x) => x.keepMs), [DAY, 3 * DAY, 3 * DAY]);
});
