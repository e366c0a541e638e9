// The alert engine's notification gate: silences hold notifications back (the alert is still
// recorded), a held firing is notified when its silence ends, reminders stop once acknowledged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAlertEngine } from '../../src/application/alerting.js';
import type { AlertEvent, StoredAlert } from '../../src/application/alert-ports.js';
import { defaultRules } from '../../src/domain/alerts/rules.js';
import { type AlertLabels, silencedBy } from '../../src/domain/silences.js';
import type { Silence } from '../../src/domain/control.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { batch, sample } from '../helpers/alert-batches.js';
import { memoryLog } from '../helpers/silent-log.js';

function setup(opts: { repeatIntervalMs?: number; silences?: Silence[]; cooldown?: ReturnType<typeof createLocalCooldown> } = {}) {
  let now = 0;
  const published: AlertEvent[] = [];
  const rows: StoredAlert[] = [];
  const silences = opts.silences ?? [];
  const acked = new Set<string>();
  const cooldown = opts.cooldown ?? createLocalCooldown(() => now);
  const rules = defaultRules({ cpuThreshold: 50 });
  for (const r of rules.rules) { r.forMs = 0; if (r.kind.endsWith('_spike')) r.enabled = false; }
  const engine = createAlertEngine({
    rules, defaults: {}, cooldown, log: memoryLog(), now: () => now, cooldownMs: 0,
    publisher: { publish: async (e) => { published.push(e); } },
    history: { async writeAlertEvent(e) { rows.push(e); }, async queryAlerts() { return rows; } },
    silencedBy: (a: AlertLabels) => silencedBy(silences, a, now),
    isAcknowledged: async (id) => acked.has(id),
    repeatIntervalMs: opts.repeatIntervalMs ?? 0,
  });
  return { engine, published, rows, silences, acked, setNow: (t: number) => { now = t; } };
}

const cpuBatch = (t: number, cpu: number, labels: Record<string, string> = {}) =>
  batch({ timestampMs: t, intervalMs: 1_000_000, containers: [sample({ id: 'c1', name: 'web-1', labels, timestampMs: t, cpuPercent: cpu })] });

const silence = (p: Partial<Silence>): Silence => ({
  id: 's1', matchers: [{ name: 'container', op: '=', value: 'web-*' }], startsAtMs: 0, endsAtMs: 10_000,
  comment: 'deploy', createdBy: 'admin', createdAtMs: 0, updatedAtMs: 0, ...p,
});

test('a silenced firing is recorded but not published; when the silence ends while it fires, it is published then', async () => {
  const s = setup({ silences: [silence({})] });
  s.setNow(1000);
  await s.engine.onBatch(cpuBatch(1000, 90));
  assert.deepEqual(s.rows.map((r) => r.state), ['firing']);
  assert.equal(s.published.length, 0);
  assert.equal(s.engine.stats().silenced, 1);
  s.setNow(5000);
  await s.engine.tick();
  assert.equal(s.published.length, 0, 'still silenced');
  s.setNow(10_000); // endsAt is exclusive
  await s.engine.tick();
  assert.deepEqual(s.published.map((e) => e.state), ['firing']);
  await s.engine.tick();
  assert.equal(s.published.length, 1, 'released once');
  s.setNow(11_000);
  await s.engine.onBatch(cpuBatch(11_000, 10));
  assert.deepEqual(s.published.map((e) => e.state), ['firing', 'resolved']);
});

test('an alert that fires and resolves inside a silence is never notified, not even its resolution', async () => {
  const s = setup({ silences: [silence({})] });
  s.setNow(1000); await s.engine.onBatch(cpuBatch(1000, 90));
  s.setNow(2000); await s.engine.onBatch(cpuBatch(2000, 10));
  s.setNow(20_000); await s.engine.tick();
  assert.deepEqual(s.rows.map((r) => r.state), ['firing', 'resolved']);
  assert.equal(s.published.length, 0);
});

test('a silence on another container, on a Docker label, or not yet started leaves the alert notified', async () => {
  for (const sil of [
    silence({ matchers: [{ name: 'container', op: '=', value: 'db-*' }] }),
    silence({ matchers: [{ name: 'label.team', op: '=', value: 'search' }] }),
    silence({ startsAtMs: 5000 }),
  ]) {
    const s = setup({ silences: [sil] });
    s.setNow(1000);
    await s.engine.onBatch(cpuBatch(1000, 90, { team: 'payments' }));
    assert.equal(s.published.length, 1, JSON.stringify(sil.matchers));
  }
  const s = setup({ silences: [silence({ matchers: [{ name: 'label.team', op: '=', value: 'payments' }] })] });
  s.setNow(1000);
  await s.engine.onBatch(cpuBatch(1000, 90, { team: 'payments' }));
  assert.equal(s.published.length, 0, 'label matcher silences');
});

test('a resolution that a silence matches is not notified even though its firing was', async () => {
  const s = setup();
  s.setNow(1000); await s.engine.onBatch(cpuBatch(1000, 90));
  s.silences.push(silence({ startsAtMs: 1500 }));
  s.setNow(2000); await s.engine.onBatch(cpuBatch(2000, 10));
  assert.deepEqual(s.published.map((e) => e.state), ['firing']);
});

test('reminders every repeat interval while firing; an acknowledgement stops them; two replicas send each reminder once', async () => {
  const shared = createLocalCooldown(() => now);
  let now = 0;
  const a = setup({ repeatIntervalMs: 60_000, cooldown: shared });
  const b = setup({ repeatIntervalMs: 60_000, cooldown: shared });
  const both = [a, b];
  const at = async (t: number, cpu?: number) => {
    now = t;
    for (const s of both) { s.setNow(t); if (cpu !== undefined) await s.engine.onBatch(cpuBatch(t, cpu)); else await s.engine.tick(); }
  };
  await at(1000, 90);
  await at(30_000);
  await at(61_000);
  await at(62_000);
  const reminders = () => [...a.published, ...b.published].filter((e) => e.message.startsWith('still firing'));
  assert.equal(reminders().length, 1);
  assert.match(reminders()[0]!.message, /reminder 1/);
  const id = a.engine.firing()[0]!.id;
  a.acked.add(id); b.acked.add(id);
  await at(121_000);
  await at(200_000);
  assert.equal(reminders().length, 1, 'acknowledged: no more reminders');
  assert.equal(a.engine.isFiring(id), true);
  await at(201_000, 10);
  assert.equal(a.engine.isFiring(id), false);
});

test('isFiring and labelsOf', async () => {
  const s = setup();
  s.setNow(1000); await s.engine.onBatch(cpuBatch(1000, 90, { team: 'x' }));
  const [f] = s.engine.firing();
  assert.ok(f);
  assert.equal(s.engine.isFiring(f.id), true);
  assert.equal(s.engine.isFiring(f.id.replace('|1000|', '|999|')), false);
  assert.deepEqual(s.engine.labelsOf(f), { alertname: 'cpu', severity: 'warning', host: 'host-a', container: 'web-1', container_id: 'c1', labels: { team: 'x' } });
  assert.equal(s.engine.agentOf('host-a'), 'agent-a');
});
