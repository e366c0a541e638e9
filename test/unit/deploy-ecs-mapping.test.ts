import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  diffSnapshots, ecsHealth, ecsState, isInternal, metadataMemLimitBytes, toContainerInfo,
  type EcsContainerMetadata,
} from '../../src/infrastructure/ecs/task-metadata.js';
import { statsToRawUsage } from '../../src/infrastructure/ecs/stats.js';

test('ECS KnownStatus and health map to Docker words', () => {
  const cases: Array<[string | undefined, string]> = [
    ['RUNNING', 'running'], ['STOPPED', 'exited'], ['PENDING', 'created'], ['PULLED', 'created'],
    ['CREATED', 'created'], ['DEACTIVATING', 'deactivating'], [undefined, 'unknown'],
  ];
  for (const [known, want] of cases) assert.equal(ecsState(known), want, String(known));
  assert.equal(ecsHealth({ status: 'HEALTHY' }), 'healthy');
  assert.equal(ecsHealth({ status: 'UNHEALTHY' }), 'unhealthy');
  assert.equal(ecsHealth({ status: 'UNKNOWN' }), 'starting');
  assert.equal(ecsHealth(undefined), 'none');
});

test('container metadata becomes ContainerInfo; the pause container is internal', () => {
  const c: EcsContainerMetadata = {
    DockerId: 'abc', Name: 'web', Image: 'nginx:1', Labels: { a: 'b' }, KnownStatus: 'STOPPED', ExitCode: 137,
    StartedAt: '2020-10-02T00:15:08.062559351Z', Limits: { Memory: 128 }, Health: { status: 'HEALTHY' },
  };
  const info = toContainerInfo(c);
  assert.equal(info.state, 'exited');
  assert.equal(info.exitCode, 137);
  assert.equal(info.health, 'healthy');
  assert.equal(info.startedAtMs, Date.parse('2020-10-02T00:15:08.062Z'));
  assert.equal(isInternal({ DockerId: 'p', Name: '~internal~ecs~pause' }), true);
  assert.equal(isInternal({ DockerId: 'p', Name: 'x', Type: 'CNI_PAUSE' }), true);
  assert.equal(isInternal(c), false);
  assert.equal(metadataMemLimitBytes({ Limits: { Memory: 512 } }, c), 128 * 1024 * 1024);
  assert.equal(metadataMemLimitBytes({ Limits: { Memory: 512 } }, { DockerId: 'x', Name: 'x' }), 512 * 1024 * 1024);
  assert.equal(metadataMemLimitBytes({}, undefined), 0);
});

test('events are synthesized from two snapshots', () => {
  const info = (id: string, state: string, extra: Partial<ReturnType<typeof toContainerInfo>> = {}) => ({
    ...toContainerInfo({ DockerId: id, Name: `n-${id}` }), state, ...extra,
  });
  const first = diffSnapshots(new Map(), [info('a', 'running'), info('b', 'running'), info('c', 'created')], 1);
  // Against an empty map every running container looks started; the runtime drops the first round.
  assert.deepEqual(first.events.map((e) => `${e.action}:${e.containerId}`), ['start:a', 'start:b']);
  const second = diffSnapshots(first.next, [
    info('a', 'exited', { exitCode: 2 }), info('c', 'running'), info('d', 'running', { health: 'starting' }),
  ], 2);
  assert.deepEqual(second.events.map((e) => `${e.action}:${e.containerId}:${e.exitCode}`),
    ['die:a:2', 'start:c:0', 'start:d:0', 'die:b:0', 'destroy:b:0']);
  const third = diffSnapshots(second.next, [
    info('a', 'exited', { exitCode: 2 }), info('c', 'running', { restartCount: 1 }), info('d', 'running', { health: 'healthy' }),
  ], 3);
  assert.deepEqual(third.events.map((e) => `${e.action}:${e.containerId}`), ['die:c', 'start:c', 'health_status:d']);
  assert.equal(third.events[2]?.health, 'healthy');
  assert.equal(diffSnapshots(third.next, [...third.next.keys()].map((id) => info(id, third.next.get(id)!.state, {
    restartCount: third.next.get(id)!.restartCount, health: third.next.get(id)!.health, exitCode: third.next.get(id)!.exitCode,
  })), 4).events.length, 0, 'no change, no event');
});

test('Docker stats JSON (a real engine fixture) converts to RawUsage', () => {
  const s = JSON.parse(readFileSync(new URL('../fixtures/docker/stats-running.json', import.meta.url), 'utf8'));
  const u = statsToRawUsage(s, 42, 0);
  assert.equal(u.source, 'ecs');
  assert.equal(u.cpuUsageNs, s.cpu_stats.cpu_usage.total_usage);
  assert.equal(u.systemCpuNs, s.cpu_stats.system_cpu_usage);
  assert.equal(u.memRawUsageBytes, s.memory_stats.usage);
  assert.equal(u.pids, s.pids_stats.current);
  assert.equal(u.timestampMs, Date.parse(s.read));
  // An "unlimited" cgroup limit gives way to the task definition's limit; a real one is kept.
  const unlimited = { ...s, memory_stats: { ...s.memory_stats, limit: 2 ** 63 } };
  assert.equal(statsToRawUsage(unlimited, 0, 512 * 1024 * 1024).memLimitBytes, 512 * 1024 * 1024);
  const limited = { ...s, memory_stats: { ...s.memory_stats, limit: 100 * 1024 * 1024 } };
  assert.equal(statsToRawUsage(limited, 0, 512 * 1024 * 1024).memLimitBytes, 100 * 1024 * 1024);
  const v2 = statsToRawUsage({
    memory_stats: { usage: 1000, stats: { inactive_file: 300 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: 'read', value: 5 }, { op: 'write', value: 7 }, { op: 'Read', value: 1 }] },
    networks: { eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
    read: '0001-01-01T00:00:00Z',
  }, 99, 0);
  assert.deepEqual([v2.memInactiveFileBytes, v2.blkReadBytes, v2.blkWriteBytes, v2.netRxBytes, v2.netTxBytes, v2.timestampMs],
    [300, 6, 7, 11, 22, 99]);
});
