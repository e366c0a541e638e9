// The history page's axis tick labels (web/format.js): one unit per axis and enough decimals
// that neighbouring ticks differ - the "1 B/s, 1 B/s, 1 B/s, 0 B/s" of an idle container.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const mod = '../../web/format.js';
const mod2 = (await import(mod)) as { axisTickLabel: (v: number, i: number, ticks: number[], kind: string) => string; niceByteTicks: (min: number, max: number) => number[] };
const { axisTickLabel } = mod2;
const labels = (ticks: number[], kind: string) => ticks.map((v, i) => axisTickLabel(v, i, ticks, kind));

test('small rates: distinct labels with decimals', () => {
  const l = labels([0, 0.2, 0.4, 0.6, 0.8, 1, 1.2], 'rate');
  assert.deepEqual(l, ['0 B/s', '0.2 B/s', '0.4 B/s', '0.6 B/s', '0.8 B/s', '1.0 B/s', '1.2 B/s']);
  assert.equal(new Set(labels([0, 0.25, 0.5, 0.75, 1], 'rate')).size, 5);
});

test('large values: one unit from the largest tick, no repeats', () => {
  const mib = 2 ** 20;
  assert.deepEqual(labels([0, 0.5 * mib, mib, 1.5 * mib, 2 * mib], 'bytes'), ['0 MiB', '0.5 MiB', '1.0 MiB', '1.5 MiB', '2.0 MiB']);
  assert.deepEqual(labels([0, 2 * 2 ** 30, 4 * 2 ** 30], 'bytes'), ['0 GiB', '2 GiB', '4 GiB']);
  assert.deepEqual(labels([0, 20, 40, 60, 80, 100], 'pct'), ['0%', '20%', '40%', '60%', '80%', '100%']);
  assert.deepEqual(labels([0, 0.05, 0.1, 0.15], 'pct'), ['0%', '0.05%', '0.10%', '0.15%']);
  assert.deepEqual(labels([0, 5000, 10000, 15000], 'num'), ['0k', '5k', '10k', '15k']);
});

test('byte axes: ticks on round numbers of the shown unit', () => {
  const { niceByteTicks } = mod2;
  const t = niceByteTicks(0, 9000) as number[];
  const l = t.map((v, i) => axisTickLabel(v, i, t, 'rate'));
  assert.deepEqual(l, ['0 KiB/s', '2 KiB/s', '4 KiB/s', '6 KiB/s', '8 KiB/s', '10 KiB/s']);
  const small = niceByteTicks(0, 1.2) as number[];
  assert.equal(new Set(small.map((v, i) => axisTickLabel(v, i, small, 'rate'))).size, small.length);
  assert.ok(small.at(-1)! >= 1.2);
});
