import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyBatch, createModel, formatBytes, formatTable, sparkline, visibleRows, HISTORY_POINTS,
} from '../../src/infrastructure/tui/model.js';
import { batch, containerSample } from '../helpers/prometheus-samples.js';

const T = 1_800_000_000_000;

function modelWithThree() {
  const m = createModel();
  applyBatch(m, batch({
    hostname: 'h1', sequence: 1, timestampMs: T,
    containers: [
      containerSample({ id: 'a1', name: 'web', cpuPercent: 5, memUsageBytes: 300, netRxBytes: 0, netTxBytes: 0, timestampMs: T }),
      containerSample({ id: 'b2', name: 'db', cpuPercent: 50, memUsageBytes: 100, netRxBytes: 0, timestampMs: T }),
    ],
  }));
  applyBatch(m, batch({
    hostname: 'h2', sequence: 1, timestampMs: T,
    containers: [containerSample({ id: 'c3', name: 'cache', cpuPercent: 20, memUsageBytes: 200, timestampMs: T })],
  }));
  return m;
}

test('rates come from consecutive samples of the same container', () => {
  const m = modelWithThree();
  applyBatch(m, batch({
    hostname: 'h1', sequence: 2, timestampMs: T + 2000,
    containers: [
      containerSample({ id: 'a1', name: 'web', netRxBytes: 4096, netTxBytes: 2048, blkWriteBytes: 1000, timestampMs: T + 2000 }),
      containerSample({ id: 'b2', name: 'db', timestampMs: T + 2000 }),
    ],
  }));
  const web = m.rows.get('h1/a1')!;
  assert.equal(web.netRxRate, 2048);
  assert.equal(web.netTxRate, 1024);
  assert.equal(web.blkWriteRate, 500);
  // A counter that went backwards (restart) gives 0, not a negative rate.
  applyBatch(m, batch({
    hostname: 'h1', sequence: 3, timestampMs: T + 3000,
    containers: [containerSample({ id: 'a1', name: 'web', netRxBytes: 10, timestampMs: T + 3000 })],
  }));
  assert.equal(m.rows.get('h1/a1')!.netRxRate, 0);
});

test('a complete batch drops rows of its host it no longer lists; snapshots and other hosts do not', () => {
  const m = modelWithThree();
  // A snapshot (sequence 0, partial) listing only web keeps db.
  applyBatch(m, batch({ hostname: 'h1', sequence: 0, complete: false, timestampMs: T + 500,
    containers: [containerSample({ id: 'a1', name: 'web', timestampMs: T + 500 })] }));
  assert.ok(m.rows.has('h1/b2'));
  applyBatch(m, batch({ hostname: 'h1', sequence: 2, timestampMs: T + 1000,
    containers: [containerSample({ id: 'a1', name: 'web', timestampMs: T + 1000 })] }));
  assert.deepEqual([...m.rows.keys()].sort(), ['h1/a1', 'h2/c3']);
  // A destroy event removes at once.
  applyBatch(m, batch({ hostname: 'h2', sequence: 2, complete: false, timestampMs: T + 1000,
    events: [{ containerId: 'c3', containerName: 'cache', action: 'destroy', timestampMs: T + 1000, exitCode: 0, health: '', attributes: {} }] }));
  assert.deepEqual([...m.rows.keys()], ['h1/a1']);
});

test('sorting by cpu, memory, network and name; filtering by name, host, image or id prefix', () => {
  const m = modelWithThree();
  const names = (sort: Parameters<typeof visibleRows>[1], filter = '') => visibleRows(m, sort, filter).map((r) => r.name);
  assert.deepEqual(names('cpu'), ['db', 'cache', 'web']);
  assert.deepEqual(names('mem'), ['web', 'cache', 'db']);
  assert.deepEqual(names('name'), ['cache', 'db', 'web']);
  // Equal network rates fall back to name order.
  assert.deepEqual(names('net'), ['cache', 'db', 'web']);
  assert.deepEqual(names('cpu', 'CA'), ['cache']);
  assert.deepEqual(names('name', 'h1'), ['db', 'web']);
  assert.deepEqual(names('name', 'b2'), ['db']);
  assert.deepEqual(names('name', 'nothing'), []);
});

test('history keeps the last HISTORY_POINTS samples', () => {
  const m = createModel();
  for (let i = 0; i < HISTORY_POINTS + 15; i++) {
    applyBatch(m, batch({ hostname: 'h', sequence: i + 1, timestampMs: T + i * 1000,
      containers: [containerSample({ id: 'x', name: 'x', cpuPercent: i, timestampMs: T + i * 1000 })] }));
  }
  const cpu = m.rows.get('h/x')!.history.cpu;
  assert.equal(cpu.length, HISTORY_POINTS);
  assert.equal(cpu[cpu.length - 1], HISTORY_POINTS + 14);
});

test('formatBytes and sparkline', () => {
  const cases: Array<[number, string]> = [[0, '0B'], [512, '512B'], [1536, '1.50KiB'], [64 * 2 ** 20, '64.0MiB'], [3 * 2 ** 30, '3.00GiB'], [-5, '0B']];
  for (const [n, want] of cases) assert.equal(formatBytes(n), want, String(n));
  assert.equal(sparkline([0, 50, 100], 3, 100), '▁▅█');
  assert.equal(sparkline([1, 2, 3, 4], 2), '▆█');
  assert.equal(sparkline([], 10), '');
});

test('formatTable drops low-priority columns to fit narrow terminals and never exceeds the width', () => {
  const rows = visibleRows(modelWithThree(), 'cpu', '');
  const wide = formatTable(rows, 200);
  assert.match(wide.header, /HEALTH/);
  assert.match(wide.header, /BLK WRITE/);
  const narrow = formatTable(rows, 70);
  assert.doesNotMatch(narrow.header, /HEALTH|BLK/);
  assert.match(narrow.header, /NAME/);
  assert.match(narrow.header, /CPU %/);
  for (const line of [narrow.header, ...narrow.lines]) assert.ok(line.length <= 70, line);
  assert.match(narrow.lines[0]!, /db/);
});
