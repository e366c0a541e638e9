// Redis adapters of the alerting area against the shared real redis-server (unique key
// prefixes per test) and a private one that the test stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AlertEvent } from '../../src/application/alert-ports.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createAlertStreamPublisher, startAlertStreamConsumer, streamEntries } from '../../src/infrastructure/redis/alert-stream.js';
import { createRedisClient, waitReady } from '../../src/infrastructure/redis/connection.js';
import { createRedisCooldown } from '../../src/infrastructure/redis/cooldown.js';
import { createRedisMetricsBus, DEFAULT_METRICS_CHANNEL } from '../../src/infrastructure/redis/metrics-bus.js';
import { batch } from '../helpers/alert-batches.js';
import { ownRedis, waitFor } from '../helpers/alert-services.js';
import { requireEnv } from '../helpers/env.js';
import { memoryLog } from '../helpers/silent-log.js';

const url = requireEnv('TEST_REDIS_URL');
const alertOf = (id: string): AlertEvent => ({
  id, ruleId: 'cpu', severity: 'warning', state: 'firing', host: 'h', containerId: 'c', containerName: 'web', value: 1,
  threshold: 1, message: 'm', timestampMs: 1 });

test('cooldown: SET NX PX lets exactly one of two clients through until it expires', async () => {
  const [a, b] = [createRedisClient(url), createRedisClient(url)];
  try {
    await Promise.all([waitReady(a), waitReady(b)]);
    const key = `dwtest:alerts:${randomUUID()}:cd`;
    const [ca, cb] = [createRedisCooldown(a), createRedisCooldown(b)];
    const got = await Promise.all([ca.tryAcquire(key, 300), cb.tryAcquire(key, 300), ca.tryAcquire(key, 300)]);
    assert.deepEqual(got.filter(Boolean).length, 1);
    assert.ok((await a.pttl(key)) > 0);
    await waitFor('key expiry', async () => (await a.exists(key)) === 0, 5000, 50);
    assert.equal(await cb.tryAcquire(key, 300), true);
  } finally { a.disconnect(); b.disconnect(); }
});

test('stream: an alert published while no worker runs is delivered once a worker starts; acked; dead worker entries reclaimed', async () => {
  const stream = `dwtest:alerts:${randomUUID()}:stream`;
  const pubClient = createRedisClient(url);
  const clients = [pubClient];
  try {
    await waitReady(pubClient);
    const publisher = createAlertStreamPublisher(pubClient, { stream, maxLen: 100 });
    await publisher.publish(alertOf('one'));

    // A worker that takes an entry and dies before acking it.
    const deadClient = createRedisClient(url);
    clients.push(deadClient);
    await waitReady(deadClient);
    const taken = streamEntries(await deadClient.call('XREADGROUP', 'GROUP', 'notifiers', 'dead-worker', 'COUNT', '1', 'STREAMS', stream, '>'));
    assert.equal(taken.length, 1, 'the dead worker took the first alert');
    await publisher.publish(alertOf('two'));

    const got: string[] = [];
    const workerClient = createRedisClient(url);
    const consumer = startAlertStreamConsumer({ redis: workerClient, stream, consumer: 'live-worker', log: memoryLog(), blockMs: 200,
      claimIdleMs: 300, handler: async (n) => { if (n.kind === 'alert') got.push(n.alert.id); } });
    try {
      await waitFor('both alerts', () => got.length >= 2, 15_000);
      await new Promise((r) => setTimeout(r, 800));
      assert.deepEqual(got.sort(), ['one', 'two'], 'each once');
      const pending = await pubClient.call('XPENDING', stream, 'notifiers') as [number | string, ...unknown[]];
      assert.equal(Number(pending[0]), 0, 'all acked');
      assert.equal(consumer.stats().reclaimed, 1);
    } finally { await consumer.stop(); }
  } finally {
    await pubClient.del(stream).catch(() => 0);
    for (const c of clients) c.disconnect();
  }
});

test('metrics bus: each replica sees every batch once, from its own agents and the other replica\'s', async () => {
  const channel = `dwtest:alerts:${randomUUID()}:metrics`;
  const pubs = [createRedisClient(url), createRedisClient(url)];
  const mk = (id: string) => createRedisMetricsBus({ pub: pubs[id === 'replica-a' ? 0 : 1]!, sub: createRedisClient(url, { subscriber: true }), local: createMemoryBus(),
    replicaId: id, channel, log: memoryLog() });
  const [a, b] = [mk('replica-a'), mk('replica-b')];
  const seenA: number[] = []; const seenB: number[] = [];
  a.subscribe((x: MetricBatch) => seenA.push(x.sequence));
  b.subscribe((x: MetricBatch) => seenB.push(x.sequence));
  try {
    await waitFor('subscriptions', async () => {
      await a.publish(batch({ timestampMs: 0, sequence: -1 }));
      return seenB.includes(-1);
    }, 10_000, 200);
    seenA.length = 0; seenB.length = 0;
    await a.publish(batch({ timestampMs: 1, sequence: 1 }));
    await b.publish(batch({ timestampMs: 2, sequence: 2 }));
    await waitFor('cross delivery', () => seenA.includes(2) && seenB.includes(1), 10_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seenA.filter((s) => s > 0).sort(), [1, 2]);
    assert.deepEqual(seenB.filter((s) => s > 0).sort(), [1, 2]);
    assert.ok(a.stats().skippedOwn >= 1, 'own echo skipped');
  } finally { await a.close(); await b.close(); for (const p of pubs) p.disconnect(); }
});

test('Redis down: the bus keeps delivering locally and publish does not throw; the stream publisher throws UNAVAILABLE', async () => {
  const redis = await ownRedis();
  const pub = createRedisClient(redis.url);
  const sub = createRedisClient(redis.url, { subscriber: true });
  const bus = createRedisMetricsBus({ pub, sub, local: createMemoryBus(), replicaId: 'r', log: memoryLog() });
  const seen: number[] = [];
  bus.subscribe((x) => seen.push(x.sequence));
  try {
    await waitReady(pub);
    await redis.kill();
    await waitFor('client notices', () => pub.status !== 'ready', 5000, 20);
    await bus.publish(batch({ timestampMs: 1, sequence: 7 }));
    await waitFor('local delivery', () => seen.includes(7), 5000);
    assert.ok(bus.stats().publishFailed >= 1);
    await assert.rejects(createAlertStreamPublisher(pub, { stream: 'x' }).publish(alertOf('z')),
      (e: { code?: string }) => e.code === 'UNAVAILABLE');
    await redis.start();
    await waitReady(pub, 15_000);
    await bus.publish(batch({ timestampMs: 2, sequence: 8 }));
    assert.ok(bus.stats().published >= 1, 'publishes again after Redis is back');
    // The subscription came back too: another replica's batch arrives.
    await waitFor('resubscribed', async () => {
      await pub.publish(DEFAULT_METRICS_CHANNEL, JSON.stringify({ r: 'other', b: batch({ timestampMs: 3, sequence: 9 }) }));
      return seen.includes(9);
    }, 10_000, 200);
  } finally { await bus.close(); pub.disconnect(); await redis.kill(); }
});

test('a subscriber closed at the moment it reconnects leaves no unhandled rejection', async () => {
  const redis = await ownRedis();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  try {
    for (let round = 0; round < 3; round++) {
      const pub = createRedisClient(redis.url);
      const sub = createRedisClient(redis.url, { subscriber: true });
      const bus = createRedisMetricsBus({ pub, sub, local: createMemoryBus(), replicaId: 'r', log: memoryLog() });
      const seen: number[] = [];
      bus.subscribe((x) => seen.push(x.sequence));
      await waitFor('subscribed', async () => {
        if (pub.status === 'ready') await pub.publish(DEFAULT_METRICS_CHANNEL, JSON.stringify({ r: 'other', b: batch({ timestampMs: 1, sequence: 1 }) }));
        return seen.includes(1);
      }, 5000, 50);
      pub.disconnect();
      await redis.kill();
      await waitFor('client notices', () => sub.status !== 'ready', 5000, 10);
      const reconnected = new Promise<void>((resolve) => sub.once('ready', () => { void bus.close().then(resolve); }));
      await redis.start();
      await reconnected;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(unhandled.map(String), []);
  } finally { process.off('unhandledRejection', onUnhandled); await redis.kill(); }
});
