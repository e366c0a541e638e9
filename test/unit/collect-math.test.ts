import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuPercent, effectiveMemLimit, memPercent, memUsageWithoutCache, toContainerSample, type UsageCounters,
} from '../../src/domain/container-math.js';
import { cpuBusyPercent, memUsed, percentOf } from '../../src/domain/host-math.js';

const GiB = 1024 ** 3;

function usage(over: Partial<UsageCounters> = {}): UsageCounters {
  return {
    timestampMs: 1000, cpuUsageNs: 0, systemCpuNs: 0, onlineCpus: 2, memRawUsageBytes: 0, memInactiveFileBytes: 0,
    memLimitBytes: 0, netRxBytes: 0, netTxBytes: 0, blkReadBytes: 0, blkWriteBytes: 0, pids: 0, source: 'cgroup', ...over,
  };
}

test('cpuPercent follows docker stats: cpuDelta / systemDelta * onlineCpus * 100, with sanity limits', () => {
  const cases: { name: string; prev?: Partial<UsageCounters>; cur: Partial<UsageCounters>; want: number }[] = [
    { name: 'first reading has no rate', cur: { cpuUsageNs: 5e9, systemCpuNs: 100e9 }, want: 0 },
    // 0.5 s of one CPU over 1 s wall on 2 CPUs: the host counted 2 s of CPU time -> 50%
    { name: 'half a core', prev: { cpuUsageNs: 1e9, systemCpuNs: 10e9 }, cur: { cpuUsageNs: 1.5e9, systemCpuNs: 12e9 }, want: 50 },
    { name: 'two full cores', prev: { cpuUsageNs: 0, systemCpuNs: 0 }, cur: { cpuUsageNs: 2e9, systemCpuNs: 2e9 }, want: 200 },
    { name: 'counter went backwards (restart)', prev: { cpuUsageNs: 9e9, systemCpuNs: 10e9 }, cur: { cpuUsageNs: 1e9, systemCpuNs: 12e9 }, want: 0 },
    { name: 'no system time elapsed', prev: { cpuUsageNs: 1e9, systemCpuNs: 10e9 }, cur: { cpuUsageNs: 2e9, systemCpuNs: 10e9 }, want: 0 },
    { name: 'impossible value clamped to onlineCpus*100', prev: { cpuUsageNs: 0, systemCpuNs: 0 }, cur: { cpuUsageNs: 50e9, systemCpuNs: 2e9 }, want: 200 },
    { name: 'unknown cpu count counts as one', prev: { cpuUsageNs: 0, systemCpuNs: 0, onlineCpus: 0 }, cur: { cpuUsageNs: 1e9, systemCpuNs: 4e9, onlineCpus: 0 }, want: 25 },
  ];
  for (const c of cases) {
    assert.equal(cpuPercent(c.prev ? usage(c.prev) : undefined, usage(c.cur)), c.want, c.name);
  }
});

test('memory: cache subtracted only when smaller than usage; unlimited limits become host RAM', () => {
  const usageCases: [number, number, number][] = [
    [100, 30, 70], [100, 100, 100], [100, 150, 100], [100, 0, 100], [0, 10, 0], [-5, 0, 0],
  ];
  for (const [raw, inactive, want] of usageCases) assert.equal(memUsageWithoutCache(raw, inactive), want, `${raw}-${inactive}`);
  const limitCases: [number, number, number][] = [
    [9223372036854771712, 24 * GiB, 24 * GiB], // v1 "unlimited"
    [0, 24 * GiB, 24 * GiB], // v2 "max" parses to 0
    [256 * 1024 ** 2, 24 * GiB, 256 * 1024 ** 2],
    [48 * GiB, 24 * GiB, 24 * GiB], // above the host's RAM
    [GiB, 0, GiB], // host RAM unknown
  ];
  for (const [limit, host, want] of limitCases) assert.equal(effectiveMemLimit(limit, host), want, `${limit}/${host}`);
  assert.equal(memPercent(64, 256), 25);
  assert.equal(memPercent(64, 0), 0);
  assert.equal(memPercent(64, 9223372036854771712), 0);
  assert.equal(memPercent(512, 256), 100);
});

test('toContainerSample maps counters and metadata; no counters -> zeros and empty source', () => {
  const info = {
    id: 'abc', name: 'web', image: 'img', labels: { a: '1' }, state: 'running', health: 'healthy',
    restartCount: 2, exitCode: 0, oomKilled: false, startedAtMs: 5,
  };
  const prev = usage({ cpuUsageNs: 1e9, systemCpuNs: 10e9 });
  const cur = usage({
    timestampMs: 2000, cpuUsageNs: 1.5e9, systemCpuNs: 12e9, memRawUsageBytes: 100 * 2 ** 20, memInactiveFileBytes: 36 * 2 ** 20,
    memLimitBytes: 256 * 2 ** 20, netRxBytes: 10, netTxBytes: 20, blkReadBytes: 30, blkWriteBytes: 40, pids: 3,
  });
  const s = toContainerSample(info, prev, cur, 9999);
  assert.equal(s.cpuPercent, 50);
  assert.equal(s.memUsageBytes, 64 * 2 ** 20);
  assert.equal(s.memRawUsageBytes, 100 * 2 ** 20);
  assert.equal(s.memPercent, 25);
  assert.equal(s.timestampMs, 2000);
  assert.deepEqual([s.netRxBytes, s.netTxBytes, s.blkReadBytes, s.blkWriteBytes, s.pids], [10, 20, 30, 40, 3]);
  assert.deepEqual([s.name, s.health, s.restartCount, s.source, s.cpuUsageNs], ['web', 'healthy', 2, 'cgroup', 1.5e9]);

  const stopped = toContainerSample({ ...info, state: 'exited', exitCode: 137 }, prev, null, 9999);
  assert.deepEqual([stopped.cpuPercent, stopped.memUsageBytes, stopped.source, stopped.exitCode, stopped.timestampMs], [0, 0, '', 137, 9999]);

  const negative = toContainerSample(info, undefined, usage({ netRxBytes: -1, pids: Number.NaN, memLimitBytes: 9223372036854771712 }), 1);
  assert.deepEqual([negative.netRxBytes, negative.pids, negative.memLimitBytes], [0, 0, 0]);
});

test('host math: busy % from jiffies, used memory, percentages', () => {
  assert.equal(cpuBusyPercent(undefined, { total: 100, idle: 50 }), 0);
  assert.equal(cpuBusyPercent({ total: 100, idle: 50 }, { total: 200, idle: 125 }), 25);
  assert.equal(cpuBusyPercent({ total: 200, idle: 50 }, { total: 100, idle: 60 }), 0);
  assert.equal(cpuBusyPercent({ total: 100, idle: 50 }, { total: 100, idle: 50 }), 0);
  assert.equal(memUsed(100, 30), 70);
  assert.equal(memUsed(100, 130), 0);
  assert.equal(percentOf(1, 3), 33.33);
  assert.equal(percentOf(5, 0), 0);
});
