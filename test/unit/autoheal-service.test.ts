// The autoheal use case over a real alert engine: opt-in (label, rule action, override, label
// opt-out), backoff, the cap and its single "gave up" page, claims across two replicas, results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAlertEngine, type AlertEngine } from '../../src/application/alerting.js';
import { AUTOHEAL_GAVE_UP_RULE, createAutoheal, type Autoheal } from '../../src/application/autoheal.js';
import type { ActionNotice, AlertEvent } from '../../src/application/alert-ports.js';
import type { AuditInput } from '../../src/application/control.js';
import { defaultRules, type AlertRuleSet } from '../../src/domain/alerts/rules.js';
import type { AgentCommand } from '../../src/domain/control.js';
import { DEFAULT_AUTOHEAL_LIMITS } from '../../src/domain/autoheal.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { batch, event, sample } from '../helpers/alert-batches.js';
import { memoryLog } from '../helpers/silent-log.js';
import { createMemoryControlStore } from '../helpers/memory-control-store.js';

const limits = { ...DEFAULT_AUTOHEAL_LIMITS, backoffInitialMs: 10_000, backoffMaxMs: 60_000, maxRestarts: 3, stableMs: 30_000 };

function cluster(opts: { replicas?: number; enabled?: boolean; rules?: (r: AlertRuleSet) => void; agentConnected?: boolean } = {}) {
  let now = Date.now();
  const cooldown = createLocalCooldown(() => now);
  const store = createMemoryControlStore();
  const commands: AgentCommand[] = [];
  const notices: ActionNotice[] = [];
  const audits: AuditInput[] = [];
  const published: AlertEvent[] = [];
  let id = 0;
  const nodes: { engine: AlertEngine; autoheal: Autoheal }[] = [];
  for (let i = 0; i < (opts.replicas ?? 1); i++) {
    const rules = defaultRules();
    for (const r of rules.rules) r.forMs = 0;
    opts.rules?.(rules);
    let autoheal!: Autoheal;
    const engine = createAlertEngine({
      rules, defaults: {}, cooldown, log: memoryLog(), now: () => now, cooldownMs: 0,
      publisher: { publish: async (e) => { published.push(e); } },
      history: { async writeAlertEvent() {}, async queryAlerts() { return []; } },
      observe: (evs) => autoheal.observe(evs),
    });
    autoheal = createAutoheal({
      enabled: opts.enabled ?? true, limits, restartTimeoutSec: 10, store, claim: cooldown, alerts: engine,
      commander: { send: async (_agent, cmd) => { if (opts.agentConnected === false) return false; commands.push(cmd); return true; } },
      audit: async (e) => { audits.push(e); }, announce: (n) => notices.push(n), log: memoryLog(), now: () => now,
      newId: () => `cmd-${++id}`,
    });
    nodes.push({ engine, autoheal });
  }
  const feed = async (b: ReturnType<typeof batch>) => { for (const n of nodes) await n.engine.onBatch(b); };
  const tick = async () => { for (const n of nodes) { await n.engine.tick(); await n.autoheal.tick(); } };
  return { nodes, store, commands, notices, audits, published, feed, tick, at: (t: number) => { now = t; }, now: () => now };
}

const unhealthy = (t: number, labels: Record<string, string>, health = 'unhealthy', name = 'web') =>
  batch({ timestampMs: t, intervalMs: 1_000_000, containers: [sample({ id: 'c1', name, labels, timestampMs: t, health })] });

test('a container without the label or a rule is never restarted', async () => {
  const c = cluster();
  await c.feed(unhealthy(c.now(), {}));
  await c.tick();
  assert.equal(c.commands.length, 0);
  assert.equal(c.nodes[0]!.autoheal.stats().wanted, 0);
});

test('label opt-in restarts once per firing; the result is audited and announced; AUTOHEAL=off forbids it', async () => {
  const c = cluster();
  await c.feed(unhealthy(c.now(), { 'dockwatch.autoheal': 'true' }));
  await c.tick();
  assert.equal(c.commands.length, 1);
  assert.deepEqual({ kind: c.commands[0]!.kind, containerId: c.commands[0]!.containerId, timeoutSec: c.commands[0]!.timeoutSec }, { kind: 'restart', containerId: 'c1', timeoutSec: 10 });
  await c.tick();
  assert.equal(c.commands.length, 1, 'backoff: no second restart at once');
  await c.nodes[0]!.autoheal.onResult('host-a', 'web', { commandId: c.commands[0]!.id, containerId: 'c1', outcome: 'restarted', durationMs: 1500 });
  assert.deepEqual(c.audits.map((a) => `${a.action}:${a.outcome}`), ['autoheal.restart:ok']);
  assert.deepEqual(c.notices.map((n) => n.outcome), ['requested', 'ok']);
  assert.equal((await c.store.autohealAttempts({ host: 'host-a', containerId: 'c1' }))[0]!.outcome, 'restarted');

  const off = cluster({ enabled: false });
  await off.feed(unhealthy(off.now(), { 'dockwatch.autoheal': 'true' }));
  await off.tick();
  assert.equal(off.commands.length, 0);
});

test('label values pick triggers; a label opt-out beats a rule action; an unknown value is ignored', async () => {
  const onlyOom = cluster();
  await onlyOom.feed(unhealthy(onlyOom.now(), { 'dockwatch.autoheal': 'oom' }));
  await onlyOom.tick();
  assert.equal(onlyOom.commands.length, 0);
  const rule = cluster({ rules: (r) => { r.rules.find((x) => x.id === 'unhealthy')!.action = 'restart'; } });
  await rule.feed(unhealthy(rule.now(), {}));
  await rule.tick();
  assert.equal(rule.commands.length, 1, 'rule action: restart');
  const optOut = cluster({ rules: (r) => { r.rules.find((x) => x.id === 'unhealthy')!.action = 'restart'; } });
  await optOut.feed(unhealthy(optOut.now(), { 'dockwatch.autoheal': 'false' }));
  await optOut.tick();
  assert.equal(optOut.commands.length, 0, 'label opt-out wins');
  const override = cluster({ rules: (r) => { r.overrides.push({ match: 'web*', autoheal: ['unhealthy'] }); } });
  await override.feed(unhealthy(override.now(), {}));
  await override.tick();
  assert.equal(override.commands.length, 1, 'override by name');
  const bad = cluster();
  await bad.feed(unhealthy(bad.now(), { 'dockwatch.autoheal': 'sometimes' }));
  await bad.tick();
  assert.equal(bad.commands.length, 0);
});

test('a container that never recovers: backoff between restarts, then the cap, one "gave up" page, and it stays given up', async () => {
  const c = cluster();
  const labels = { 'dockwatch.autoheal': 'true' };
  let t = c.now();
  // each restart: the container comes back "starting" (alert resolves), then unhealthy again
  for (let i = 0; i < 3; i++) {
    await c.feed(unhealthy(t, labels));
    await c.tick();
    assert.equal(c.commands.length, i + 1, `restart ${i + 1}`);
    await c.nodes[0]!.autoheal.onResult('host-a', 'web', { commandId: c.commands[i]!.id, containerId: 'c1', outcome: 'restarted', durationMs: 100 });
    t += 1000; c.at(t);
    await c.feed(unhealthy(t, labels, 'starting'));
    t += 1000; c.at(t);
    await c.feed(unhealthy(t, labels));
    await c.tick();
    assert.equal(c.commands.length, i + 1, 'backoff holds the next restart');
    t += 10_000 * 2 ** i; c.at(t);
  }
  await c.tick();
  assert.equal(c.commands.length, 3, 'the cap: no 4th restart');
  const gaveUp = c.published.filter((e) => e.ruleId === AUTOHEAL_GAVE_UP_RULE);
  assert.equal(gaveUp.length, 1);
  assert.equal(gaveUp[0]!.severity, 'critical');
  assert.ok(c.audits.some((a) => a.action === 'autoheal.gave_up'));
  // later relapses, even after the window: no restart, no second page
  for (let i = 0; i < 3; i++) {
    t += 2_000_000; c.at(t);
    await c.feed(unhealthy(t, labels, 'starting'));
    t += 1000; c.at(t);
    await c.feed(unhealthy(t, labels));
    await c.tick();
  }
  assert.equal(c.commands.length, 3);
  assert.equal(c.published.filter((e) => e.ruleId === AUTOHEAL_GAVE_UP_RULE).length, 1);
  // healthy for stableMs: the give-up clears and its alert resolves
  t += 1000; c.at(t);
  await c.feed(unhealthy(t, labels, 'healthy'));
  await c.tick();
  t += limits.stableMs; c.at(t);
  await c.tick();
  assert.deepEqual(c.published.filter((e) => e.ruleId === AUTOHEAL_GAVE_UP_RULE).map((e) => e.state), ['firing', 'resolved']);
  assert.equal(await c.store.getGaveUp({ host: 'host-a', containerId: 'c1' }), null);
});

test('two replicas evaluating the same batches send one restart, and process a result once', async () => {
  const c = cluster({ replicas: 2 });
  await c.feed(unhealthy(c.now(), { 'dockwatch.autoheal': 'true' }));
  await c.tick();
  await c.tick();
  assert.equal(c.commands.length, 1);
  const r = { commandId: c.commands[0]!.id, containerId: 'c1', outcome: 'restarted' as const, durationMs: 1 };
  await c.nodes[0]!.autoheal.onResult('host-a', 'web', r);
  await c.nodes[1]!.autoheal.onResult('host-a', 'web', r);
  assert.equal(c.audits.length, 1);
});

test('host limit: at most M restarts per host per minute', async () => {
  const c = cluster();
  const containers = Array.from({ length: 7 }, (_, i) => sample({ id: `c${i}`, name: `w${i}`, labels: { 'dockwatch.autoheal': 'true' }, timestampMs: c.now(), health: 'unhealthy' }));
  await c.feed(batch({ timestampMs: c.now(), intervalMs: 1_000_000, containers }));
  await c.tick();
  assert.equal(c.commands.length, limits.maxPerHostPerMinute);
  c.at(c.now() + 61_000);
  await c.tick();
  assert.equal(new Set(c.commands.map((x) => x.containerId)).size, 7, 'the other two get their turn a minute later');
  assert.ok(c.commands.length <= 2 * limits.maxPerHostPerMinute);
});

test('an agent that cannot take the command: the attempt is recorded as failed, audited and announced', async () => {
  const c = cluster({ agentConnected: false });
  await c.feed(unhealthy(c.now(), { 'dockwatch.autoheal': 'true' }));
  await c.tick();
  assert.deepEqual(c.audits.map((a) => `${a.action}:${a.outcome}`), ['autoheal.restart:failed']);
  assert.match(String(c.audits[0]!.details['error']), /not connected or cannot take commands/);
  assert.equal(c.notices[0]!.outcome, 'failed');
});

test('a stopped container (exit code) is healed only with the exited trigger', async () => {
  const mk = (labels: Record<string, string>) => {
    const c = cluster();
    return { c, run: async () => {
      await c.feed(batch({ timestampMs: c.now(), intervalMs: 1_000_000, containers: [sample({ id: 'c1', name: 'job', labels, timestampMs: c.now() })] }));
      await c.feed(batch({ timestampMs: c.now() + 1, intervalMs: 1_000_000, complete: false,
        events: [event({ containerId: 'c1', containerName: 'job', action: 'die', timestampMs: c.now() + 1, attributes: { exitCode: '1' } })] }));
      await c.tick();
    } };
  };
  const a = mk({ 'dockwatch.autoheal': 'true' });
  await a.run();
  assert.equal(a.c.commands.length, 0);
  const b = mk({ 'dockwatch.autoheal': 'exited' });
  await b.run();
  assert.equal(b.c.commands.length, 1);
});

test('a command the agent never answers is recorded as failed after its deadline', async () => {
  const c = cluster();
  await c.feed(unhealthy(c.now(), { 'dockwatch.autoheal': 'true' }));
  await c.tick();
  assert.equal(c.commands.length, 1);
  c.at(c.now() + 99_000); // restart timeout 10 s + 90 s
  await c.tick();
  assert.equal(c.audits.length, 0, 'not yet');
  c.at(c.now() + 2000);
  await c.tick();
  assert.deepEqual(c.audits.map((a) => `${a.action}:${a.outcome}:${String(a.details['error'])}`), ['autoheal.restart:failed:no answer from the agent in time']);
  assert.equal((await c.store.autohealAttempts({ host: 'host-a', containerId: 'c1' }))[0]!.outcome, 'failed');
});
