// Engine JSON -> our shapes, on JSON saved from a real Docker 20.10 engine (test/fixtures/docker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { engineStatsToRawUsage, type EngineStatsJson } from '../../src/infrastructure/shared/engine-stats.js';
import {
  ACTION_ALIASES, demuxLogs, exitCodeFromStatus, healthFromStatus, inspectCacheKey, toContainerEvent, toContainerInfo,
  type EngineEventMessage, type EngineInspect, type EngineListItem,
} from '../../src/infrastructure/docker/mappers.js';
import { dockerOptions } from '../../src/infrastructure/docker/runtime.js';

const json = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/docker/${name}`, import.meta.url), 'utf8')) as T;
const list = json<EngineListItem[]>('containers-list.json');
const byName = (n: string) => list.find((i) => i.Names?.[0] === `/${n}`)!;

test('list item + inspect -> ContainerInfo (running and exited containers)', () => {
  const running = toContainerInfo(byName('colA-probe'), json<EngineInspect>('inspect-running.json'));
  assert.deepEqual(running, {
    id: 'a9efe17973a28834b099e166f6121fa52c97d2f969c0a0654ac1b7a7e99c447f', name: 'colA-probe',
    image: 'dockwatch-test/busybox:latest', labels: { 'dockwatch.test': '1' }, state: 'running', health: 'none',
    restartCount: 0, exitCode: 0, oomKilled: false, startedAtMs: Date.parse('2026-11-22T04:51:08.689010756Z'),
    pid: 8456, cgroupParent: '',
  });
  const exited = toContainerInfo(byName('colA-exited'), json<EngineInspect>('inspect-exited.json'));
  assert.deepEqual([exited.state, exited.exitCode, exited.pid, exited.name], ['exited', 3, 0, 'colA-exited']);
  // Without inspect, the list's Status text still gives the exit code.
  const listOnly = toContainerInfo(byName('colA-exited'));
  assert.deepEqual([listOnly.state, listOnly.exitCode, listOnly.startedAtMs], ['exited', 3, 0]);
});

test('health and exit code from the list Status text; inspect cache key ignores the age', () => {
  const cases: [string | undefined, string][] = [
    ['Up 3 minutes (healthy)', 'healthy'], ['Up 1 second (health: starting)', 'starting'],
    ['Up 2 hours (unhealthy)', 'unhealthy'], ['Up 8 seconds', 'none'], [undefined, 'none'],
  ];
  for (const [s, want] of cases) assert.equal(healthFromStatus(s), want, String(s));
  assert.equal(exitCodeFromStatus('Exited (137) 5 minutes ago'), 137);
  assert.equal(exitCodeFromStatus('Up 5 minutes'), 0);
  const a = inspectCacheKey({ Id: 'x', State: 'running', Status: 'Up 1 second (healthy)' });
  assert.equal(a, inspectCacheKey({ Id: 'x', State: 'running', Status: 'Up 9 minutes (healthy)' }));
  assert.notEqual(a, inspectCacheKey({ Id: 'x', State: 'running', Status: 'Up 9 minutes (unhealthy)' }));
  assert.notEqual(a, inspectCacheKey({ Id: 'x', State: 'exited', Status: 'Exited (0) 1 second ago' }));
});

test('events: watched container actions only, exit code and health parsed', () => {
  const lines = readFileSync(new URL('../fixtures/docker/events.jsonl', import.meta.url), 'utf8').trim().split('\n');
  const events = lines.map((l) => toContainerEvent(JSON.parse(l) as EngineEventMessage)).filter((e) => e !== null);
  assert.deepEqual(events.map((e) => e.action), ['create', 'start', 'health_status', 'die', 'destroy']);
  const die = events.find((e) => e.action === 'die')!;
  assert.deepEqual([die.containerName, die.exitCode, die.containerId.length], ['colA-ev', 7, 64]);
  assert.equal(die.attributes['dockwatch.fixture'], '1');
  assert.ok(die.timestampMs > 1.7e12 && die.timestampMs < 2e12, 'ms from timeNano');
  assert.equal(events.find((e) => e.action === 'health_status')!.health, 'healthy');
  assert.equal(toContainerEvent({ Type: 'network', Action: 'connect' }), null);
});

test('podman 4.3 events (compat API, captured in the cgroup v2 VM): the exit is a die with its code; the libpod name "died" maps to die', () => {
  const lines = readFileSync(new URL('../fixtures/podman/events-4.3.jsonl', import.meta.url), 'utf8').trim().split('\n');
  const events = lines.map((l) => toContainerEvent(JSON.parse(l) as EngineEventMessage)).filter((e) => e !== null);
  // init and cleanup are podman's own steps, not watched; podman 4.3 sent no stop for `podman stop`.
  assert.deepEqual(events.map((e) => `${e.containerName}:${e.action}`), ['pd-pids:create', 'pd-pids:start', 'pd-pids:die', 'pd-late:create', 'pd-late:start']);
  assert.equal(events.find((e) => e.action === 'die')!.exitCode, 137);
  const died = toContainerEvent({ Type: 'container', Action: 'died', Actor: { ID: 'c1', Attributes: { name: 'x', containerExitCode: '3' } } });
  assert.deepEqual([died?.action, died?.exitCode], ['die', 3]);
  // The event filter asks for the libpod name as well: without it podman 4 never sends an exit.
  assert.equal(ACTION_ALIASES.died, 'die');
});

test('one-shot stats JSON -> RawUsage (v1 names; v2 names; network and blkio sums; stopped container)', () => {
  const u = engineStatsToRawUsage(json<EngineStatsJson>('stats-running.json'), 1);
  assert.deepEqual(u, {
    timestampMs: Date.parse('2026-11-22T04:51:17.60760728Z'), cpuUsageNs: 4512559624, systemCpuNs: 808670000000,
    onlineCpus: 2, memRawUsageBytes: 17145856, memInactiveFileBytes: 0, memLimitBytes: 268435456,
    netRxBytes: 0, netTxBytes: 0, blkReadBytes: 0, blkWriteBytes: 0, pids: 1, source: 'engine-api',
  });
  // The networks and blkio shapes the Engine API documents (a bridged container on cgroup v2).
  const v2: EngineStatsJson = {
    read: '2026-01-01T00:00:00Z',
    cpu_stats: { cpu_usage: { total_usage: 10, percpu_usage: [5, 5, 0, 0] }, system_cpu_usage: 1000 },
    memory_stats: { usage: 5000, limit: 9000, stats: { inactive_file: 1000, active_file: 3 } },
    networks: { eth0: { rx_bytes: 100, tx_bytes: 10 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
    blkio_stats: { io_service_bytes_recursive: [
      { op: 'read', value: 4096 }, { op: 'write', value: 8192 }, { op: 'Read', value: 1 }, { op: 'Total', value: 99 },
    ] },
    pids_stats: { current: 4 },
  };
  const w = engineStatsToRawUsage(v2, 1, 'ecs');
  assert.deepEqual(
    [w.onlineCpus, w.memInactiveFileBytes, w.netRxBytes, w.netTxBytes, w.blkReadBytes, w.blkWriteBytes, w.pids, w.source],
    [4, 1000, 101, 12, 4097, 8192, 4, 'ecs'],
  );
  const stopped = engineStatsToRawUsage(json<EngineStatsJson>('stats-exited.json'), 42);
  assert.deepEqual([stopped.timestampMs, stopped.cpuUsageNs, stopped.pids], [42, 0, 0]);
});

test('log frames are demultiplexed; raw TTY logs pass through', () => {
  const frame = (type: number, s: string) => {
    const b = Buffer.from(s);
    const h = Buffer.alloc(8);
    h.writeUInt8(type, 0);
    h.writeUInt32BE(b.length, 4);
    return Buffer.concat([h, b]);
  };
  assert.equal(demuxLogs(Buffer.concat([frame(1, 'hello\n'), frame(2, 'oops\n'), frame(1, 'bye\n')])), 'hello\noops\nbye\n');
  assert.equal(demuxLogs(Buffer.from('plain tty output\n')), 'plain tty output\n');
  assert.equal(demuxLogs(Buffer.alloc(0)), '');
});

test('DOCKER_HOST forms', () => {
  assert.deepEqual(dockerOptions('unix:///var/run/docker.sock'), { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(dockerOptions('/run/docker.sock'), { socketPath: '/run/docker.sock' });
  assert.deepEqual(dockerOptions('tcp://10.0.0.1:2376'), { host: '10.0.0.1', port: 2376 });
  assert.deepEqual(dockerOptions('tcp://docker'), { host: 'docker', port: 2375 });
  assert.deepEqual(dockerOptions(undefined), { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(dockerOptions(''), { socketPath: '/var/run/docker.sock' });
  assert.throws(() => dockerOptions('ssh://x'), /DOCKER_HOST/);
  assert.throws(() => dockerOptions('https://x:2376'), /TLS/);
});
