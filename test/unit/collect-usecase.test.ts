// The collect use case over small in-memory port implementations (the adapters have their own
// tests against real files and a real engine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCollector } from '../../src/application/collect.js';
import type { ContainerInfo, ContainerRuntime, HostCollector, Logger, RawUsage, UsageReader } from '../../src/application/ports.js';
import type { HostSample } from '../../src/domain/types.js';

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = {
    lines,
    debug: () => {},
    info: (_o: object | string, m?: string) => void lines.push(`info ${m ?? _o}`),
    warn: (_o: object | string, m?: string) => void lines.push(`warn ${m ?? _o}`),
    error: (_o: object | string, m?: string) => void lines.push(`error ${m ?? _o}`),
    child: () => log,
  };
  return log;
}

function info(id: string, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id, name: id, image: 'img', labels: {}, state: 'running', health: 'none', restartCount: 0, exitCode: 0,
    oomKilled: false, startedAtMs: 1, pid: 10, cgroupParent: '', ...over,
  };
}

function usage(cpuNs: number, sysNs: number, source: RawUsage['source'] = 'cgroup'): RawUsage {
  return {
    timestampMs: 1, cpuUsageNs: cpuNs, systemCpuNs: sysNs, onlineCpus: 2, memRawUsageBytes: 100, memInactiveFileBytes: 0,
    memLimitBytes: 1000, netRxBytes: 0, netTxBytes: 0, blkReadBytes: 0, blkWriteBytes: 0, pids: 1, source,
  };
}

const hostSample = { timestampMs: 1, numCpus: 2, runtimeAvailable: true } as HostSample;
const host: HostCollector = { collect: async () => hostSample };

test('first reader that answers wins; rates need a previous reading of the same run and source', async () => {
  let list = [info('a'), info('b'), info('c', { state: 'exited', exitCode: 2, pid: 0 })];
  let tick = 0;
  const primary: UsageReader = { read: async (c) => (c.id === 'a' ? usage(tick * 0.5e9, tick * 2e9) : null) };
  const fallbackCalls: string[] = [];
  const fallback: UsageReader = {
    read: async (c) => {
      fallbackCalls.push(c.id);
      return usage(tick * 1e9, tick * 2e9, 'engine-api');
    },
  };
  const runtime: ContainerRuntime = { listContainers: async () => list, watchEvents: () => () => {} };
  const col = createCollector({ runtime, readers: [primary, fallback], host, log: recordingLog(), clock: () => 99 });

  tick = 1;
  const r1 = await col.collect();
  assert.deepEqual(r1.containers.map((s) => [s.id, s.source, s.cpuPercent]), [['a', 'cgroup', 0], ['b', 'engine-api', 0], ['c', '', 0]]);
  assert.deepEqual(fallbackCalls, ['b'], 'stopped containers are not read');
  assert.equal(r1.containers[2]!.exitCode, 2);

  tick = 2;
  const r2 = await col.collect();
  assert.deepEqual(r2.containers.map((s) => s.cpuPercent), [50, 100, 0]);

  // b restarted (new StartedAt): no rate against the old run's counters.
  list = [info('a'), info('b', { startedAtMs: 2 })];
  tick = 3;
  const r3 = await col.collect();
  assert.deepEqual(r3.containers.map((s) => s.cpuPercent), [50, 0]);
});

test('removed containers are forgotten: a reused id starts without a rate', async () => {
  let list = [info('a')];
  let cpu = 0;
  const reader: UsageReader = { read: async () => usage(cpu, cpu * 4) };
  const runtime: ContainerRuntime = { listContainers: async () => list, watchEvents: () => () => {} };
  const col = createCollector({ runtime, readers: [reader], host, log: recordingLog() });
  cpu = 1e9;
  await col.collect();
  list = [];
  assert.equal((await col.collect()).containers.length, 0);
  list = [info('a')];
  cpu = 2e9;
  assert.equal((await col.collect()).containers[0]!.cpuPercent, 0);
  cpu = 3e9;
  assert.equal((await col.collect()).containers[0]!.cpuPercent, 50);
});

test('runtime unreachable: host metrics still flow, containers empty, logged once; recovery logged', async () => {
  let up = false;
  const runtime: ContainerRuntime = {
    listContainers: async () => {
      if (!up) throw new Error('connect ENOENT /var/run/docker.sock');
      return [info('a')];
    },
    watchEvents: () => () => {},
  };
  const log = recordingLog();
  const col = createCollector({ runtime, readers: [{ read: async () => usage(1, 1) }], host, log });
  const a = await col.collect();
  const b = await col.collect();
  assert.equal(a.host?.runtimeAvailable, false);
  assert.deepEqual([a.containers.length, b.containers.length, col.runtimeAvailable()], [0, 0, false]);
  assert.equal(log.lines.filter((l) => l.includes('unreachable')).length, 1);
  up = true;
  const c = await col.collect();
  assert.deepEqual([c.containers.length, c.host?.runtimeAvailable, col.runtimeAvailable()], [1, true, true]);
  assert.ok(log.lines.some((l) => l.includes('reachable again')));
});

test('a throwing reader falls through to the next and is logged once; a failing host gives host=null', async () => {
  const runtime: ContainerRuntime = { listContainers: async () => [info('a'), info('b')], watchEvents: () => () => {} };
  const broken: UsageReader = { read: async () => { throw new Error('EACCES'); } };
  const log = recordingLog();
  const badHost: HostCollector = { collect: async () => { throw new Error('no /proc'); } };
  const col = createCollector({ runtime, readers: [broken, { read: async () => usage(1, 1, 'engine-api') }], host: badHost, log });
  const r = await col.collect();
  await col.collect();
  assert.equal(r.host, null);
  assert.deepEqual(r.containers.map((s) => s.source), ['engine-api', 'engine-api']);
  assert.equal(log.lines.filter((l) => l.includes('usage reader failed')).length, 1);
  assert.equal(log.lines.filter((l) => l.includes('host metrics unavailable')).length, 1);
});

test('concurrency cap holds with many containers', async () => {
  const list = Array.from({ length: 50 }, (_, i) => info(`c${i}`));
  let inFlight = 0;
  let peak = 0;
  const reader: UsageReader = {
    read: async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return usage(1, 1);
    },
  };
  const runtime: ContainerRuntime = { listContainers: async () => list, watchEvents: () => () => {} };
  const col = createCollector({ runtime, readers: [reader], host, log: recordingLog(), concurrency: 4 });
  const r = await col.collect();
  assert.equal(r.containers.length, 50);
  assert.equal(peak, 4);
});
