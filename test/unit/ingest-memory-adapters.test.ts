import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMemoryLedger } from '../../src/infrastructure/memory/ledger.js';
import { batch, container, waitFor } from '../helpers/grpc-fixtures.js';

test('bus: every subscriber gets every batch; a throwing handler does not stop the others', async () => {
  const bus = createMemoryBus();
  const a: number[] = [];
  const b: number[] = [];
  bus.subscribe(() => { throw new Error('bad handler'); });
  bus.subscribe((x) => a.push(x.sequence));
  const sb = bus.subscribe((x) => b.push(x.sequence));
  for (let i = 1; i <= 5; i++) bus.publish(batch('h', i));
  await waitFor(() => a.length === 5 && b.length === 5);
  assert.deepEqual(a, [1, 2, 3, 4, 5]);
  sb.close();
  bus.publish(batch('h', 6));
  await waitFor(() => a.length === 6);
  assert.equal(b.length, 5, 'closed subscription gets nothing');
  assert.equal(bus.stats().subscribers, 2);
});

test('bus: publish does not wait for handlers; a full queue drops the oldest', async () => {
  const bus = createMemoryBus({ queueSize: 3 });
  const got: number[] = [];
  const sub = bus.subscribe((x) => got.push(x.sequence));
  for (let i = 1; i <= 10; i++) bus.publish(batch('h', i));
  assert.equal(got.length, 0, 'delivery is deferred');
  await waitFor(() => got.length === 3);
  assert.deepEqual(got, [8, 9, 10]);
  assert.equal(sub.dropped, 7);
  assert.equal(bus.stats().dropped, 7);
});

test('latest: per container, complete batches remove unlisted containers, destroy removes', () => {
  const s = createMemoryLatestStore({ clock: () => 42 });
  const t = Date.now();
  s.apply(batch('h1', 1, { timestampMs: t, containers: [container('a', { timestampMs: t }), container('b', { timestampMs: t })] }));
  s.apply(batch('h2', 1, { timestampMs: t, containers: [container('a', { timestampMs: t })] }));
  assert.equal(s.containers().length, 3, 'same id on two hosts is two containers');

  s.apply(batch('h1', 2, { timestampMs: t + 1, containers: [container('a', { timestampMs: t + 1, cpuPercent: 99 })] }));
  const h1 = s.containers().filter((c) => c.agentId === 'h1');
  assert.deepEqual(h1.map((c) => c.id), ['a']);
  assert.equal(h1[0]!.cpuPercent, 99);
  assert.equal(h1[0]!.host, 'h1-host');

  // partial (event) batch: keeps others
  s.apply(batch('h2', 2, { timestampMs: t + 2, complete: false, containers: [container('z', { timestampMs: t + 2 })] }));
  assert.deepEqual(s.containers().filter((c) => c.agentId === 'h2').map((c) => c.id).sort(), ['a', 'z']);

  s.apply(batch('h2', 3, {
    timestampMs: t + 3, complete: false, containers: [],
    events: [{ containerId: 'z', containerName: 'c-z', action: 'destroy', timestampMs: t + 3, exitCode: 0, health: '', attributes: {} }],
  }));
  assert.deepEqual(s.containers().filter((c) => c.agentId === 'h2').map((c) => c.id), ['a']);

  s.apply(batch('h2', 4, { timestampMs: t + 4, complete: false, containers: [container('a', { timestampMs: t + 4, state: 'removed' })] }));
  assert.equal(s.containers().filter((c) => c.agentId === 'h2').length, 0);

  const hosts = s.hosts();
  assert.deepEqual(hosts.map((h) => [h.agentId, h.containerCount, h.lastSeenMs]).sort(), [['h1', 1, 42], ['h2', 0, 42]]);
});

test('latest: an old resent batch does not overwrite newer samples or remove containers', () => {
  const s = createMemoryLatestStore();
  const t = Date.now();
  s.apply(batch('h', 5, { timestampMs: t, containers: [container('a', { timestampMs: t, cpuPercent: 5 }), container('b', { timestampMs: t })] }));
  s.apply(batch('h', 3, { timestampMs: t - 5000, containers: [container('a', { timestampMs: t - 5000, cpuPercent: 1 })] }));
  assert.deepEqual(s.containers().map((c) => [c.id, c.cpuPercent]).sort(), [['a', 5], ['b', 12.5]]);
});

test('latest: hosts silent for longer than forgetAfterMs are forgotten with their containers', () => {
  let now = 1_000_000;
  const s = createMemoryLatestStore({ clock: () => now, forgetAfterMs: 60_000 });
  s.apply(batch('old', 1));
  now += 30_000;
  s.apply(batch('new', 1));
  now += 40_000;
  assert.deepEqual(s.hosts().map((h) => h.agentId), ['new']);
  assert.ok(s.containers().every((c) => c.agentId === 'new'));
});

test('ledger keeps the highest sequence', () => {
  const l = createMemoryLedger();
  assert.equal(l.lastAcked('a'), undefined);
  l.record('a', 5);
  l.record('a', 3);
  assert.equal(l.lastAcked('a'), 5);
});
