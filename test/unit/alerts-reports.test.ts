import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeDigest, composeHeartbeat, sendDigest } from '../../src/application/alert-reports.js';
import type { Notification, StoredAlert } from '../../src/application/alert-ports.js';
import type { HostedContainerSample } from '../../src/domain/types.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { sample } from '../helpers/alert-batches.js';
import { memoryLog } from '../helpers/silent-log.js';

const c = (id: string, host: string, state: string, cpu: number, mem: number): HostedContainerSample =>
  ({ ...sample({ id, name: id, state, cpuPercent: cpu, memPercent: mem }), host, agentId: host });
const al = (t: number, state: 'firing' | 'resolved'): StoredAlert => ({ id: String(t), ruleId: 'cpu', severity: 'warning', state, host: 'h',
  containerId: 'c', containerName: 'c', value: 1, threshold: 1, message: '', timestampMs: t });

test('digest: hosts, counts by state, top consumers among running, alerts in the period', () => {
  const d = composeDigest({
    serverId: 's', fromMs: 100, toMs: 200, top: 2,
    hosts: [{ agentId: 'b', hostname: 'b', lastSeenMs: 1, intervalMs: 1, sample: null, containerCount: 1 },
      { agentId: 'a', hostname: 'a', lastSeenMs: 1, intervalMs: 1, sample: null, containerCount: 3 }],
    containers: [c('x', 'a', 'running', 50, 10), c('y', 'a', 'running', 70, 5), c('z', 'a', 'exited', 99, 99), c('w', 'b', 'running', 1, 60)],
    alerts: [al(50, 'firing'), al(100, 'firing'), al(150, 'resolved'), al(199, 'firing'), al(200, 'resolved')],
  });
  assert.deepEqual(d.hosts.map((h) => h.hostname), ['a', 'b']);
  assert.deepEqual(d.containersByState, { running: 3, exited: 1 });
  assert.deepEqual(d.topCpu.map((t) => t.containerName), ['y', 'x']);
  assert.deepEqual(d.topMemory.map((t) => `${t.containerName}@${t.host}`), ['w@b', 'x@a']);
  assert.deepEqual([d.alertsFired, d.alertsResolved], [2, 1]);
  assert.deepEqual(composeHeartbeat({ serverId: 's', nowMs: 5, agentsConnected: 2, samplesPerSecond: 1.234, firingAlerts: 3 }),
    { serverId: 's', timestampMs: 5, agentsConnected: 2, samplesPerSecond: 1.23, firingAlerts: 3 });
});

test('one digest per period even with two replicas', async () => {
  const sent: Notification[] = [];
  const cooldown = createLocalCooldown(() => 0);
  const deps = { serverId: 's', latest: { hosts: () => [], containers: () => [] }, history: { queryAlerts: async () => [] }, cooldown,
    sink: { deliver: async (n: Notification) => { sent.push(n); } }, log: memoryLog() };
  assert.ok(await sendDigest(deps, 60_000, 60_000));
  assert.equal(await sendDigest({ ...deps, serverId: 'other' }, 60_000, 60_000), null);
  assert.ok(await sendDigest(deps, 120_000, 60_000));
  assert.equal(sent.length, 2);
});
