// The browser module's pure parts (rates from counters, formatting, history normalising),
// loaded straight from web/common.js: no build step, so the file the browser gets is the file tested.
import { test } from 'node:test';
import assert from 'node:assert/strict';

interface Common {
  rateTracker(): (id: string, ts: number, counters: Record<string, number | undefined>) => Record<string, number | null>;
  fmtBytes(n: number | null): string;
  fmtRate(n: number | null): string;
  fmtPct(n: number | null): string;
  normaliseHistory(body: unknown): { stepMs: number | null; points: { ts: number; get(k: string): number | null }[] };
}
const common = (await import(new URL('../../web/common.js', import.meta.url).href)) as Common;

test('rates: delta over seconds; null for the first sample, a counter reset, or no time passing', () => {
  const rates = common.rateTracker();
  assert.deepEqual(rates('a', 1000, { rx: 100, tx: 0 }), { rx: null, tx: null });
  assert.deepEqual(rates('a', 3000, { rx: 4196, tx: 10 }), { rx: 2048, tx: 5 });
  assert.deepEqual(rates('b', 3000, { rx: 1 }), { rx: null }, 'per id');
  assert.deepEqual(rates('a', 4000, { rx: 50, tx: 20 }), { rx: null, tx: 10 }, 'rx went down: restart');
  assert.deepEqual(rates('a', 4000, { rx: 60, tx: 30 }), { rx: null, tx: null }, 'same timestamp');
  assert.deepEqual(rates('a', 5000, { rx: 160, tx: undefined }), { rx: 100, tx: null });
});

test('formatting table', () => {
  const table: [string, string][] = [
    [common.fmtBytes(0), '0 B'], [common.fmtBytes(1023), '1023 B'], [common.fmtBytes(1024), '1.0 KiB'],
    [common.fmtBytes(1536), '1.5 KiB'], [common.fmtBytes(256 * 2 ** 20), '256 MiB'], [common.fmtBytes(3 * 2 ** 30), '3.0 GiB'],
    [common.fmtBytes(null), '–'], [common.fmtRate(2048), '2.0 KiB/s'], [common.fmtRate(null), '–'],
    [common.fmtPct(12.345), '12.3%'], [common.fmtPct(Number.NaN), '–'],
  ];
  for (const [got, want] of table) assert.equal(got, want);
});

test('history normalising: snake_case flat points and camelCase {timestampMs, values} both read', () => {
  const a = common.normaliseHistory({ step_ms: 10_000, points: [{ ts: 1000, cpu_percent: 5, net_rx_bytes: 7 }] });
  assert.equal(a.stepMs, 10_000);
  assert.equal(a.points[0]!.ts, 1000);
  assert.equal(a.points[0]!.get('cpu_percent'), 5);
  assert.equal(a.points[0]!.get('mem_usage_bytes'), null);
  const b = common.normaliseHistory({ stepMs: 60_000, points: [{ timestampMs: 2000, values: { cpuPercent: 9, netRxBytes: null } }] });
  assert.equal(b.stepMs, 60_000);
  assert.equal(b.points[0]!.ts, 2000);
  assert.equal(b.points[0]!.get('cpu_percent'), 9);
  assert.equal(b.points[0]!.get('net_rx_bytes'), null);
  const c = common.normaliseHistory({ points: [{ ts: '2026-11-22T05:00:00Z', cpu_percent: 1 }] });
  assert.equal(c.points[0]!.ts, Date.parse('2026-11-22T05:00:00Z'));
  assert.deepEqual(common.normaliseHistory(null).points, []);
});
