import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerHistory, parseRange, parseTime } from '../../src/application/history.js';
import { AppError } from '../../src/application/errors.js';
import type { HistoryReader } from '../../src/application/store-ports.js';

const NOW = Date.parse('2026-11-22T05:00:00Z');

test('parseTime accepts ISO 8601, epoch ms, now and relative values', () => {
  const cases: Array<[string, number | null]> = [
    ['now', NOW],
    ['-1h', NOW - 3_600_000],
    ['now-15m', NOW - 900_000],
    ['-30s', NOW - 30_000],
    ['2026-11-22T04:00:00Z', Date.parse('2026-11-22T04:00:00Z')],
    ['2026-11-22T04:00:00.500+01:00', Date.parse('2026-11-22T03:00:00.500Z')],
    ['1795000000000', 1795000000000],
    ['yesterday', null],
    ['-1x', null],
    ['2026-13-45T99:00:00Z', null],
    ['', null],
  ];
  for (const [text, want] of cases) assert.equal(parseTime(text, NOW), want, text);
});

function errField(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    return e.field;
  }
  assert.fail('expected an error');
}

test('parseRange rejects bad parameters naming the parameter', () => {
  assert.equal(errField(() => parseRange({ from: 'garbage' }, NOW)), 'from');
  assert.equal(errField(() => parseRange({ to: 'garbage' }, NOW)), 'to');
  assert.equal(errField(() => parseRange({ from: '-1h', to: '-2h' }, NOW)), 'from');
  assert.equal(errField(() => parseRange({ step: 'often' }, NOW)), 'step');
  assert.equal(errField(() => parseRange({ step: '0s' }, NOW)), 'step');
  assert.equal(errField(() => parseRange({ from: '-1d', step: '1s' }, NOW)), 'step'); // 86,401 points
});

test('parseRange defaults and auto step', () => {
  assert.deepEqual(parseRange({}, NOW), { fromMs: NOW - 3_600_000, toMs: NOW, stepMs: 5_000 });
  assert.deepEqual(parseRange({ from: '-24h', to: 'now', step: 'auto' }, NOW),
    { fromMs: NOW - 86_400_000, toMs: NOW, stepMs: 120_000 });
  assert.equal(parseRange({ from: '-2h', step: '1s' }, NOW).stepMs, 1000); // 7,201 points: allowed
});

test('containerHistory: unknown container is INVALID_ARGUMENT on container_id', async () => {
  const calls: string[] = [];
  const store: HistoryReader = {
    hasContainer: async (id) => { calls.push(`has ${id}`); return id === 'abc'; },
    hasHost: async () => false,
    queryContainer: async (q) => { calls.push(`q ${q.containerId} ${q.stepMs}`); return [{ timestampMs: q.fromMs, values: { cpuPercent: 1 } }]; },
    queryHost: async () => [],
  };
  const deps = { store, now: () => NOW };
  await assert.rejects(containerHistory(deps, 'nope', {}), (e: AppError) => e.field === 'container_id');
  await assert.rejects(containerHistory(deps, undefined, {}), (e: AppError) => e.field === 'container_id');
  const r = await containerHistory(deps, 'abc', { from: '-1h' });
  assert.equal(r.points.length, 1);
  assert.equal(r.stepMs, 5000);
  assert.deepEqual(calls, ['has nope', 'has abc', 'q abc 5000']);
});
