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

test('agent-offline checks pause while the bus is down and restart their clocks afterwards', async () => {
  let now = 0;
  let paused = false;
  const published: AlertEvent[] = [];
  const engine = createAlertEngine({ rules: defaultRules(), defaults: {}, cooldown: createLocalCooldown(() => now), history: memHistory(),
    log: memoryLog(), now: () => now, publisher: { publish: async (e) => { published.push(e); } }, offlineChecksPaused: () => paused });
  await engine.onBatch(batch({ timestampMs: 0, intervalMs: 1000 }));
  paused = true;
  now = 10_000;
  await engine.tick();
  assert.equal(published.length, 0, 'paused');
  paused = false;
  now = 10_500;
  await engine.tick();
  assert.equal(published.length, 0, 'the gap does not count');
  now = 14_000;
  await engine.tick();
  assert.deepEqual(published.map((p) => p.ruleId), ['agent_offline']);
});

test('withAlertContext attaches the last log lines to die/oom/unhealthy events only', async () => {
  const { withAlertContext } = await import('../../src/application/alert-context.js');
  const { event } = await import('../helpers/alert-batches.js');
  let emit: (e: ReturnType<typeof event>) => void = () => {};
  const asked: string[] = [];
  const runtime = {
    watchEvents: (on: (e: ReturnType<typeof event>) => void) => { emit = on; return () => {}; },
    tailLogs: async (id: string, n: number) => { asked.push(`${id}:${n}`); if (id === 'gone') throw new Error('404'); return Array.from({ length: 25 }, (_, i) => `l${i}`); },
  };
  const got: ReturnType<typeof event>[] = [];
  withAlertContext(runtime)((e) => got.push(e));
  emit(event({ containerId: 'a', action: 'start', timestampMs: 1 }));
  emit(event({ containerId: 'a', action: 'die', timestampMs: 2, attributes: { exitCode: '3' } }));
  emit(event({ containerId: 'gone', action: 'oom', timestampMs: 3 }));
  emit(event({ containerId: 'b', action: 'health_status', health: 'healthy', timestampMs: 4 }));
  emit(event({ containerId: 'b', action: 'health_status', health: 'unhealthy', timestampMs: 5 }));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(asked, ['a:20', 'gone:20', 'b:20']);
  const die = got.find((e) => e.action === 'die')!;
  assert.equal(die.attributes['exitCode'], '3');
  assert.equal(die.attributes['logTail']!.split('\n').length, 20);
  assert.equal(got.find((e) => e.action === 'oom')!.attributes['logTail'], undefined, 'no log, event still passed on');
  assert.equal(got.length, 5);
});

test('health recovers once Redis answers, even when the queued alert was taken by another replica', async () => {
  const s = setup();
  s.setDown(true);
  await s.engine.onBatch(cpuBatch(1000, 80));
  assert.equal(s.engine.health().status, 'degraded');
  s.setDown(false);
  // Another replica claimed the same transition meanwhile.
  await s.cooldown.tryAcquire(`dockwatch:claim:${'cpu|host-a|c1|1000|firing'}`, 60_000);
  await s.engine.tick();
  assert.equal(s.published.length, 0);
  assert.deepEqual(s.engine.health(), { status: 'ok', queued: 0 });
});
