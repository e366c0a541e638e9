import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAlertEngine } from '../../src/application/alerting.js';
import type { AlertEvent, AlertHistory, StoredAlert } from '../../src/application/alert-ports.js';
import { AppError } from '../../src/application/errors.js';
import { defaultRules } from '../../src/domain/alerts/rules.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { batch, sample } from '../helpers/alert-batches.js';
import { memoryLog } from '../helpers/silent-log.js';

function memHistory(): AlertHistory & { rows: StoredAlert[] } {
  const rows: StoredAlert[] = [];
  return {
    rows,
    async writeAlertEvent(e) { rows.push(e); },
    async queryAlerts(q) { return rows.filter((r) => r.timestampMs >= q.fromMs && r.timestampMs <= q.toMs && (!q.state || r.state === q.state)); },
  };
}

function setup(opts: { cooldownMs?: number; queueLimit?: number } = {}) {
  let now = 0;
  const published: AlertEvent[] = [];
  let down = false;
  const cooldownImpl = createLocalCooldown(() => now);
  const cooldown = { tryAcquire: async (k: string, ttl: number) => {
    if (down) throw new AppError('UNAVAILABLE', 'redis: connection refused');
    return cooldownImpl.tryAcquire(k, ttl);
  } };
  const publisher = { publish: async (e: AlertEvent) => {
    if (down) throw new AppError('UNAVAILABLE', 'redis: connection refused');
    published.push(e);
  } };
  const history = memHistory();
  const rules = defaultRules({ cpuThreshold: 50 });
  for (const r of rules.rules) { r.forMs = 0; if (r.kind.endsWith('_spike')) r.enabled = false; }
  const engine = createAlertEngine({ rules, defaults: { cpuThreshold: 50 }, cooldown, publisher, history, log: memoryLog(),
    now: () => now, cooldownMs: opts.cooldownMs ?? 300_000, queueLimit: opts.queueLimit ?? 100 });
  return { engine, published, history, cooldown, setNow: (t: number) => { now = t; }, setDown: (d: boolean) => { down = d; } };
}

const cpuBatch = (t: number, cpu: number, host = 'host-a') =>
  batch({ hostname: host, timestampMs: t, containers: [sample({ id: 'c1', name: 'web', timestampMs: t, cpuPercent: cpu })] });

test('firing then resolved are recorded and published; a re-fire within the cooldown is not published', async () => {
  const s = setup();
  for (const [t, cpu] of [[1000, 80], [2000, 10], [3000, 80], [4000, 10]] as const) { s.setNow(t); await s.engine.onBatch(cpuBatch(t, cpu)); }
  assert.deepEqual(s.history.rows.map((r) => r.state), ['firing', 'resolved', 'firing', 'resolved']);
  assert.deepEqual(s.published.map((r) => `${r.state}@${r.timestampMs}`), ['firing@1000', 'resolved@2000']);
  assert.equal(s.engine.stats().suppressed, 2);
  assert.equal(s.engine.stats().fired, 2);
});

test('two engines sharing one cooldown store: one records and publishes each transition', async () => {
  const a = setup();
  const published: AlertEvent[] = [];
  const history = memHistory();
  const rules = defaultRules({ cpuThreshold: 50 });
  const mk = () => createAlertEngine({ rules, defaults: {}, cooldown: a.cooldown, history, log: memoryLog(), now: () => 0,
    publisher: { publish: async (e) => { published.push(e); } } });
  const [e1, e2] = [mk(), mk()];
  for (const b of [cpuBatch(1000, 80), cpuBatch(70_000, 80)]) { await e1.onBatch(b); await e2.onBatch(b); }
  assert.deepEqual(published.map((p) => p.ruleId), ['cpu']);
  assert.equal(history.rows.length, 1);
});

test('Redis down: transitions wait in a bounded queue, health is degraded, then go out exactly once', async () => {
  const s = setup({ queueLimit: 2 });
  s.setDown(true);
  await s.engine.onBatch(cpuBatch(1000, 80));
  assert.equal(s.engine.health().status, 'degraded');
  assert.match(s.engine.health().reason ?? '', /redis/);
  assert.equal(s.published.length, 0);
  await s.engine.tick();
  assert.equal(s.published.length, 0, 'still down');
  s.setDown(false);
  await s.engine.tick();
  await s.engine.tick();
  assert.deepEqual(s.published.map((p) => p.state), ['firing']);
  assert.equal(s.engine.health().status, 'ok');

  // Overflow drops the oldest and counts it.
  s.setDown(true);
  for (const [t, cpu] of [[2000, 10], [3000, 80], [4000, 10]] as const) await s.engine.onBatch(cpuBatch(t, cpu));
  assert.equal(s.engine.stats().queued, 2);
  assert.equal(s.engine.stats().dropped, 1);
});

test('replaceRules validates and keeps the rules in force on error', () => {
  const s = setup();
  assert.throws(() => s.engine.replaceRules({ rules: [{ id: 'cpu', threshold: 'x' }] }),
    (e: AppError) => e.code === 'INVALID_ARGUMENT' && e.field === 'rules.0.threshold');
  assert.equal(s.engine.getRules().rules.find((r) => r.id === 'cpu')!.threshold, 50);
  const doc = s.engine.replaceRules({ rules: [{ id: 'cpu', threshold: 20 }] });
  assert.equal(doc.rules.find((r) => r.id === 'cpu')!.threshold, 20);
  assert.equal(s.engine.ruleSet().rules.find((r) => r.id === 'cpu')!.threshold, 20);
});

test('firing() lists what is firing now', async () => {
  const s = setup();
  await s.engine.onBatch(cpuBatch(1000, 80));
  assert.deepEqual(s.engine.firing().map((f) => `${f.ruleId} ${f.containerName} ${f.host}`), ['cpu web host-a']);
});
