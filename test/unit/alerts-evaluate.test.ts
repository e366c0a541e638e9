import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AlertEvent, type AlertState, emptyAlertState, evaluate } from '../../src/domain/alerts/evaluate.js';
import { type AlertRuleSet, defaultRules } from '../../src/domain/alerts/rules.js';
import { globMatch } from '../../src/domain/alerts/glob.js';
import type { ContainerSample, MetricBatch } from '../../src/domain/types.js';
import { batch, event, hostSample, sample } from '../helpers/alert-batches.js';

/** Rules with every `for` at 0 unless a test sets it. */
function rules(mut: (r: AlertRuleSet) => void = () => {}): AlertRuleSet {
  const r = defaultRules();
  for (const x of r.rules) x.forMs = 0;
  mut(r);
  return r;
}

/** Runs batches (or ticks) in order, returning every transition as "state ruleId container". */
function run(r: AlertRuleSet, steps: ({ b: MetricBatch; now?: number } | { tick: number })[]): { out: string[]; events: AlertEvent[]; state: AlertState } {
  let state = emptyAlertState();
  const events: AlertEvent[] = [];
  for (const s of steps) {
    const res = 'tick' in s ? evaluate(state, { tick: true, nowMs: s.tick }, r)
      : evaluate(state, { batch: s.b, nowMs: s.now ?? s.b.timestampMs }, r);
    state = res.state;
    events.push(...res.transitions);
  }
  return { out: events.map((e) => `${e.state} ${e.ruleId} ${e.containerName}`), events, state };
}

const running = (id: string, t: number, p: Partial<ContainerSample> = {}): ContainerSample =>
  sample({ id, name: id, timestampMs: t, ...p });

test('glob matcher', () => {
  const table: [string, string, boolean][] = [
    ['web', 'web', true], ['web', '/web', true], ['web', 'web1', false], ['web-*', 'web-1', true], ['web-*', 'api-1', false],
    ['w?b', 'wab', true], ['w?b', 'wb', false], ['db-[12]', 'db-1', true], ['db-[12]', 'db-3', false],
    ['db-[!1]', 'db-2', true], ['db-[!1]', 'db-1', false], ['*', 'anything', true], ['a.b', 'axb', false], ['a+b', 'a+b', true],
  ];
  for (const [g, n, want] of table) assert.equal(globMatch(g, n), want, `${g} ~ ${n}`);
});

test('threshold rules fire and resolve (table)', () => {
  const cases: { name: string; samples: Partial<ContainerSample>[]; want: string[]; r?: (r: AlertRuleSet) => void }[] = [
    { name: 'cpu above 90', samples: [{ cpuPercent: 95 }, { cpuPercent: 5 }], want: ['firing cpu c', 'resolved cpu c'] },
    { name: 'cpu at 90 is not above', samples: [{ cpuPercent: 90 }], want: [] },
    { name: 'memory above 85', samples: [{ memPercent: 86 }, { memPercent: 86 }, { memPercent: 10 }], want: ['firing memory c', 'resolved memory c'] },
    { name: 'cpu threshold from rules', samples: [{ cpuPercent: 60 }], want: ['firing cpu c'], r: (r) => { r.rules[0]!.threshold = 50; } },
    { name: 'disabled rule', samples: [{ cpuPercent: 99 }], want: [], r: (r) => { r.rules[0]!.enabled = false; } },
    { name: 'unhealthy', samples: [{ health: 'unhealthy' }, { health: 'healthy' }], want: ['firing unhealthy c', 'resolved unhealthy c'] },
    { name: 'stopped by itself non-zero (no events)', samples: [{}, { state: 'exited', exitCode: 3 }, {}], want: ['firing stopped c', 'resolved stopped c'] },
    { name: 'exit 0 is fine', samples: [{}, { state: 'exited', exitCode: 0 }], want: [] },
    { name: 'oom (sample flag)', samples: [{}, { state: 'exited', exitCode: 137, oomKilled: true }],
      want: ['firing stopped c', 'firing oom c'] },
  ];
  for (const c of cases) {
    const steps = c.samples.map((s, i) => ({ b: batch({ timestampMs: 1000 * (i + 1), containers: [running('c', 1000 * (i + 1), { cpuPercent: 1, memPercent: 1, ...s })] }) }));
    // Spike rules would add noise to threshold cases.
    const r = rules((x) => { for (const k of x.rules) if (k.kind.endsWith('_spike')) k.enabled = false; c.r?.(x); });
    assert.deepEqual(run(r, steps).out, c.want, c.name);
  }
});

test('for duration: the condition must hold that long', () => {
  const r = rules((x) => { x.rules[0]!.forMs = 30_000; for (const k of x.rules) if (k.kind.endsWith('_spike')) k.enabled = false; });
  const at = (t: number, cpu: number) => ({ b: batch({ timestampMs: t, containers: [running('c', t, { cpuPercent: cpu })] }) });
  assert.deepEqual(run(r, [at(0, 95), at(10_000, 95), at(20_000, 95)]).out, [], 'not yet');
  assert.deepEqual(run(r, [at(0, 95), at(10_000, 95), at(30_000, 95), at(40_000, 95)]).out, ['firing cpu c'], 'fires once at 30 s');
  assert.deepEqual(run(r, [at(0, 95), at(20_000, 10), at(30_000, 95), at(50_000, 95)]).out, [], 'a dip restarts the clock');
  assert.deepEqual(run(r, [at(0, 95), at(20_000, 10)]).out, [], 'a pending alert that never fired resolves silently');
});

test('per-container overrides by glob and by label', () => {
  const noSpike = (x: AlertRuleSet): void => { for (const k of x.rules) if (k.kind.endsWith('_spike')) k.enabled = false; };
  const cases: { name: string; r: (x: AlertRuleSet) => void; c: Partial<ContainerSample>; want: string[] }[] = [
    { name: 'glob lowers cpu', r: (x) => { x.overrides.push({ match: 'db-*', cpuThreshold: 50 }); }, c: { name: 'db-1', cpuPercent: 60 }, want: ['firing cpu db-1'] },
    { name: 'glob of another name', r: (x) => { x.overrides.push({ match: 'web-*', cpuThreshold: 50 }); }, c: { name: 'db-1', cpuPercent: 60 }, want: [] },
    { name: 'host glob limits override', r: (x) => { x.overrides.push({ match: '*', host: 'other', cpuThreshold: 50 }); }, c: { name: 'db-1', cpuPercent: 60 }, want: [] },
    { name: 'glob silences', r: (x) => { x.overrides.push({ match: 'db-*', alerts: false }); }, c: { name: 'db-1', cpuPercent: 99 }, want: [] },
    { name: 'label cpu threshold', r: () => {}, c: { name: 'x', cpuPercent: 60, labels: { 'dockwatch.cpu_threshold': '50' } }, want: ['firing cpu x'] },
    { name: 'label memory threshold', r: () => {}, c: { name: 'x', memPercent: 60, labels: { 'dockwatch.memory_threshold': '50' } }, want: ['firing memory x'] },
    { name: 'label beats file', r: (x) => { x.overrides.push({ match: '*', cpuThreshold: 50 }); }, c: { name: 'x', cpuPercent: 60, labels: { 'dockwatch.cpu_threshold': '70' } }, want: [] },
    { name: 'label alerts=off', r: () => {}, c: { name: 'x', cpuPercent: 99, labels: { 'dockwatch.alerts': 'off' } }, want: [] },
    { name: 'label alerts=on beats file off', r: (x) => { x.overrides.push({ match: '*', alerts: false }); }, c: { name: 'x', cpuPercent: 99, labels: { 'dockwatch.alerts': 'on' } }, want: ['firing cpu x'] },
    { name: 'bad label number ignored', r: () => {}, c: { name: 'x', cpuPercent: 60, labels: { 'dockwatch.cpu_threshold': 'abc' } }, want: [] },
  ];
  for (const c of cases) {
    const r = rules((x) => { noSpike(x); c.r(x); });
    assert.deepEqual(run(r, [{ b: batch({ timestampMs: 1, containers: [running('id1', 1, c.c)] }) }]).out, c.want, c.name);
  }
});

test('label override silences one container while a sibling alerts', () => {
  const r = rules((x) => { x.rules[0]!.threshold = 50; });
  const b = batch({ timestampMs: 1, containers: [
    running('a', 1, { name: 'quiet', cpuPercent: 80, labels: { 'dockwatch.alerts': 'off' } }),
    running('b', 1, { name: 'loud', cpuPercent: 80 }),
  ] });
  assert.deepEqual(run(r, [{ b }]).out, ['firing cpu loud']);
});

test('watched containers: absent, not running, glob, per host', () => {
  const r = rules((x) => {
    x.watch.push({ host: '*', containers: ['nginx', 'api-*'] });
    x.watch.push({ host: 'host-b', containers: ['only-b'] });
  });
  const res = run(r, [{ b: batch({ timestampMs: 1, containers: [running('n1', 1, { name: 'nginx' })] }) }]);
  assert.deepEqual(res.out, ['firing watched api-*']);
  assert.equal(res.events[0]!.host, 'host-a');
  assert.equal(res.events[0]!.containerId, 'watch:api-*');

  const stopped = run(r, [{ b: batch({ timestampMs: 1, containers: [running('n1', 1, { name: 'nginx', state: 'exited', exitCode: 0 }), running('a1', 1, { name: 'api-1' })] }) }]);
  assert.deepEqual(stopped.out, ['firing watched nginx']);

  const hostB = run(r, [{ b: batch({ timestampMs: 1, hostname: 'host-b', containers: [running('n1', 1, { name: 'nginx' }), running('a1', 1, { name: 'api-1' })] }) }]);
  assert.deepEqual(hostB.out, ['firing watched only-b']);

  // It comes up: resolves. An incomplete batch decides nothing about absence.
  const later = run(r, [
    { b: batch({ timestampMs: 1, containers: [running('n1', 1, { name: 'nginx' })] }) },
    { b: batch({ timestampMs: 2, complete: false, containers: [] }) },
    { b: batch({ timestampMs: 3, containers: [running('n1', 3, { name: 'nginx' }), running('a1', 3, { name: 'api-1' })] }) },
  ]);
  assert.deepEqual(later.out, ['firing watched api-*', 'resolved watched api-*']);
});

test('died unexpectedly vs intended stop (events), with exit code and log tail', () => {
  const r = rules();
  const start = { b: batch({ timestampMs: 1, containers: [running('c', 1)] }) };
  const crash = run(r, [start, { b: batch({ timestampMs: 2, containers: [running('c', 2, { state: 'exited', exitCode: 2 })],
    events: [event({ containerId: 'c', action: 'die', timestampMs: 2, exitCode: 2, attributes: { exitCode: '2', logTail: 'boom\nbye' } })] }) }]);
  assert.deepEqual(crash.out, ['firing stopped c']);
  assert.deepEqual(crash.events[0]!.context, { exitCode: 2, logTail: ['boom', 'bye'] });
  assert.equal(crash.events[0]!.value, 2);

  const stop = run(r, [start, { b: batch({ timestampMs: 2, containers: [running('c', 2, { state: 'exited', exitCode: 143 })], events: [
    event({ containerId: 'c', action: 'kill', timestampMs: 2, attributes: { signal: '15' } }),
    event({ containerId: 'c', action: 'die', timestampMs: 2, exitCode: 143, attributes: { exitCode: '143' } }),
    event({ containerId: 'c', action: 'stop', timestampMs: 2 })] }) }]);
  assert.deepEqual(stop.out, [], 'docker stop is intended');

  const gone = run(r, [start, { b: batch({ timestampMs: 2, containers: [] }) }]);
  assert.deepEqual(gone.out, ['firing stopped c'], 'vanished without a stop');

  const removed = run(r, [start, { b: batch({ timestampMs: 2, containers: [], events: [
    event({ containerId: 'c', action: 'kill', timestampMs: 2 }), event({ containerId: 'c', action: 'die', timestampMs: 2, exitCode: 137 }),
    event({ containerId: 'c', action: 'destroy', timestampMs: 2 })] }) }]);
  assert.deepEqual(removed.out, [], 'docker rm -f is intended');

  // A sample taken before the die in the same batch must not hide the death.
  const staleSample = run(r, [start, { b: batch({ timestampMs: 3, containers: [running('c', 1)], events: [
    event({ containerId: 'c', action: 'die', timestampMs: 2, exitCode: 1 })] }) }]);
  assert.deepEqual(staleSample.out, ['firing stopped c']);

  const restarted = run(r, [start,
    { b: batch({ timestampMs: 2, containers: [], complete: false, events: [event({ containerId: 'c', action: 'die', timestampMs: 2, exitCode: 1 })] }) },
    { b: batch({ timestampMs: 3, containers: [running('c', 3, { startedAtMs: 3 })], events: [event({ containerId: 'c', action: 'start', timestampMs: 3 })] }) }]);
  assert.deepEqual(restarted.out, ['firing stopped c', 'resolved stopped c']);
});

test('unhealthy and oom from events carry the log tail', () => {
  const r = rules();
  const res = run(r, [{ b: batch({ timestampMs: 1, containers: [running('c', 1, { health: 'unhealthy' })], events: [
    event({ containerId: 'c', action: 'health_status: unhealthy', timestampMs: 1, health: 'unhealthy', attributes: { logTail: 'l1\nl2' } }),
    event({ containerId: 'c', action: 'oom', timestampMs: 1, attributes: { logTail: 'out of memory' } })] }) }]);
  assert.deepEqual(res.out.sort(), ['firing oom c', 'firing unhealthy c']);
  const un = res.events.find((e) => e.ruleId === 'unhealthy')!;
  assert.deepEqual(un.context?.logTail, ['l1', 'l2']);
  assert.deepEqual(res.events.find((e) => e.ruleId === 'oom')!.context?.logTail, ['out of memory']);
});

test('restart loop: 3 restarts in 5 minutes, from counts or events, not counted twice', () => {
  const r = rules();
  const at = (t: number, n: number) => ({ b: batch({ timestampMs: t, containers: [running('c', t, { restartCount: n })] }) });
  assert.deepEqual(run(r, [at(0, 0), at(60_000, 1), at(120_000, 2), at(180_000, 3)]).out, ['firing restart_loop c']);
  assert.deepEqual(run(r, [at(0, 0), at(60_000, 1), at(120_000, 2), at(400_000, 3)]).out, [], 'spread over more than 5 min');
  const fired = run(r, [at(0, 0), at(1000, 3), at(302_000, 3)]);
  assert.deepEqual(fired.out, ['firing restart_loop c', 'resolved restart_loop c'], 'window slides');
  // Two die/start pairs by event plus a sample whose count agrees: 2 restarts, not 4.
  const ev = (t: number, action: string) => event({ containerId: 'c', action, timestampMs: t, exitCode: 1 });
  const both = run(r, [at(0, 0), { b: batch({ timestampMs: 5000, containers: [running('c', 5000, { restartCount: 2, startedAtMs: 4500 })],
    events: [ev(1000, 'die'), ev(1500, 'start'), ev(4000, 'die'), ev(4500, 'start')] }) }]);
  assert.deepEqual(both.out.filter((x) => x.includes('restart_loop')), []);
});

test('spikes: CPU +40 points and memory +20 points between two samples', () => {
  const r = rules((x) => { x.rules[0]!.enabled = false; x.rules[1]!.enabled = false; });
  const at = (t: number, cpu: number, mem: number) => ({ b: batch({ timestampMs: t, containers: [running('c', t, { cpuPercent: cpu, memPercent: mem })] }) });
  assert.deepEqual(run(r, [at(1, 10, 10), at(2, 55, 10), at(3, 60, 10), at(4, 12, 10)]).out, ['firing cpu_spike c', 'resolved cpu_spike c']);
  assert.deepEqual(run(r, [at(1, 10, 10), at(2, 45, 10)]).out, [], '+35 is no spike');
  assert.deepEqual(run(r, [at(1, 10, 10), at(2, 30, 10), at(3, 60, 10)]).out, [], 'a ramp is no spike');
  assert.deepEqual(run(r, [at(1, 10, 10), at(2, 10, 31), at(3, 10, 12)]).out, ['firing memory_spike c', 'resolved memory_spike c']);
  assert.deepEqual(run(r, [at(1, 10, 10)]).out, [], 'first sample has nothing to compare');
});

test('agent offline after 3 missed intervals, back on the next batch', () => {
  const r = rules();
  const b1 = batch({ timestampMs: 1000, intervalMs: 1000 });
  const res = run(r, [{ b: b1, now: 1000 }, { tick: 3500 }, { tick: 4100 }, { tick: 5000 },
    { b: batch({ timestampMs: 6000, intervalMs: 1000 }), now: 6000 }]);
  assert.deepEqual(res.out, ['firing agent_offline ', 'resolved agent_offline ']);
  assert.equal(res.events[0]!.host, 'host-a');
  assert.match(res.events[0]!.message, /host-a/);
});

test('host disk above 90', () => {
  const r = rules();
  const hb = (t: number, used: number) => ({ b: batch({ timestampMs: t, host: hostSample({ disks: [
    { mount: '/', device: 'sda1', fsType: 'ext4', totalBytes: 100, usedBytes: used, usedPercent: used },
    { mount: '/data', device: 'sdb1', fsType: 'ext4', totalBytes: 100, usedBytes: 10, usedPercent: 10 }] }) }) });
  const res = run(r, [hb(1, 95), hb(2, 95), hb(3, 50)]);
  assert.deepEqual(res.events.map((e) => `${e.state} ${e.ruleId} ${e.containerId}`), ['firing host_disk disk:/', 'resolved host_disk disk:/']);
});

test('every alert names host and container; ids are deterministic and distinct per transition', () => {
  const r = rules();
  const steps = [
    { b: batch({ timestampMs: 1, hostname: 'h1', containers: [running('c1', 1, { name: 'web', cpuPercent: 95 })] }), now: 111 },
    { b: batch({ timestampMs: 2, hostname: 'h1', containers: [running('c1', 2, { name: 'web', cpuPercent: 5 })] }), now: 222 },
  ];
  const a = run(r, steps);
  const b = run(r, steps.map((s) => ({ ...s, now: s.now + 5000 })));
  assert.deepEqual(a.events.map((e) => e.id), b.events.map((e) => e.id), 'server clock does not change ids');
  assert.equal(new Set(a.events.map((e) => e.id)).size, a.events.length);
  for (const e of a.events) { assert.equal(e.host, 'h1'); assert.equal(e.containerName, 'web'); assert.equal(e.containerId, 'c1'); assert.match(e.message, /web.*h1/); }
});

test('evaluate does not mutate the state it is given', () => {
  const r = rules();
  const s0 = emptyAlertState();
  const res = evaluate(s0, { batch: batch({ timestampMs: 1, containers: [running('c', 1, { cpuPercent: 99 })] }), nowMs: 1 }, r);
  assert.deepEqual(s0, emptyAlertState());
  assert.ok(Object.keys(res.state.alerts).length > 0);
});

test('evaluate leaves the previous state intact (copy on write)', () => {
  const r = rules();
  const b1 = batch({ timestampMs: 1, containers: [running('c', 1, { cpuPercent: 99, restartCount: 0 })] });
  const s1 = evaluate(emptyAlertState(), { batch: b1, nowMs: 1 }, r).state;
  const frozen = JSON.stringify(s1);
  const b2 = batch({ timestampMs: 2, containers: [running('c', 2, { cpuPercent: 5, restartCount: 2 })] });
  const first = evaluate(s1, { batch: b2, nowMs: 2 }, r);
  const again = evaluate(s1, { batch: b2, nowMs: 2 }, r);
  assert.equal(JSON.stringify(s1), frozen);
  assert.deepEqual(first.transitions, again.transitions);
  assert.deepEqual(first.transitions.map((t) => `${t.state} ${t.ruleId}`), ['resolved cpu']);
  const t = evaluate(first.state, { tick: true, nowMs: 10_000 }, r);
  assert.equal(JSON.stringify(s1), frozen);
  assert.ok(first.state.alerts !== t.state.alerts);
});
