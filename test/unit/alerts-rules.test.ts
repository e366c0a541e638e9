import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRuleSet, loadAlertRules, parseRulesText, toRulesDocument } from '../../src/application/alert-rules.js';
import { AppError } from '../../src/application/errors.js';

const defaults = { cpuThreshold: 90, memoryThreshold: 85, watchContainers: ['nginx'] };

function err(fn: () => unknown): AppError {
  try { fn(); } catch (e) { assert.ok(e instanceof AppError, String(e)); return e; }
  assert.fail('expected an error');
}

test('a rules file merges into the defaults by id and adds new rules, overrides and watches', () => {
  const set = parseRulesText(`
rules:
  - id: cpu
    threshold: 70
    for: 2m
  - id: cpu-critical
    kind: cpu
    severity: critical
    threshold: 95
    for: 30
  - id: restart_loop
    window: 10m
overrides:
  - match: "db-*"
    cpu_threshold: 50
  - match: batch-*
    host: worker-*
    alerts: off
watch:
  - host: web-*
    containers: [nginx, "api-*"]
`, 'rules.yaml', defaults);
  const cpu = set.rules.find((r) => r.id === 'cpu')!;
  assert.equal(cpu.threshold, 70);
  assert.equal(cpu.forMs, 120_000);
  assert.equal(cpu.severity, 'warning');
  const crit = set.rules.find((r) => r.id === 'cpu-critical')!;
  assert.deepEqual([crit.kind, crit.severity, crit.threshold, crit.forMs], ['cpu', 'critical', 95, 30_000]);
  assert.equal(set.rules.find((r) => r.id === 'restart_loop')!.windowMs, 600_000);
  assert.equal(set.rules.find((r) => r.id === 'memory')!.threshold, 85);
  assert.deepEqual(set.overrides, [{ match: 'db-*', cpuThreshold: 50 }, { match: 'batch-*', host: 'worker-*', alerts: false }]);
  assert.deepEqual(set.watch.map((w) => w.host), ['*', 'web-*']);
});

test('JSON works too, and CPU_THRESHOLD feeds the default', () => {
  const set = parseRulesText('{"rules":[{"id":"memory","threshold":60}]}', 'r.json', { cpuThreshold: 42 });
  assert.equal(set.rules.find((r) => r.id === 'cpu')!.threshold, 42);
  assert.equal(set.rules.find((r) => r.id === 'memory')!.threshold, 60);
});

test('a bad rules file names the file, the path inside it and the reason (table)', () => {
  const cases: [string, string, RegExp][] = [
    ['rules:\n  - id: cpu\n    threshold: -1\n', 'rules.yaml:rules.0.threshold', /rules\.yaml:rules\.0\.threshold: .*/],
    ['rules:\n  - id: cpu\n    for: soon\n', 'rules.yaml:rules.0.for', /not a duration/],
    ['rules:\n  - id: mine\n    threshold: 3\n', 'rules.yaml:rules.0.kind', /needs a kind/],
    ['rules:\n  - id: cpu\n    kind: memory\n', 'rules.yaml:rules.0.kind', /is a cpu rule/],
    ['rules:\n  - id: x\n    kind: cpu\n  - id: x\n    kind: cpu\n', 'rules.yaml:rules.1.id', /duplicate/],
    ['rules:\n  - id: cpu\n    treshold: 3\n', 'rules.yaml:rules.0', /treshold/],
    ['overrides:\n  - cpu_threshold: 3\n', 'rules.yaml:overrides.0.match', /.+/],
    ['watch:\n  - host: a\n    containers: []\n', 'rules.yaml:watch.0.containers', /.+/],
    ['rules: [\n  - id: cpu\n', 'rules.yaml:line 2', /.+/],
    ['- 1\n- 2\n', 'rules.yaml:(root)', /.+/],
  ];
  for (const [text, field, reason] of cases) {
    const e = err(() => parseRulesText(text, 'rules.yaml', defaults));
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.equal(e.field, field, text);
    assert.match(e.message, reason);
    assert.ok(e.message.startsWith(field), e.message);
  }
});

test('loadAlertRules: defaults without a file, file errors carry the file name', async () => {
  const set = await loadAlertRules({ readText: async () => assert.fail('no read'), defaults });
  assert.equal(set.rules.length, 11);
  await assert.rejects(loadAlertRules({ file: '/nope.yaml', readText: async () => { throw new Error('ENOENT'); }, defaults }),
    (e: AppError) => e.code === 'INVALID_ARGUMENT' && e.field === '/nope.yaml');
});

test('the rules document round-trips through GET/PUT without growing', () => {
  const set = buildRuleSet({ rules: [{ id: 'cpu', threshold: 70 }], overrides: [{ match: 'a*', alerts: false }], watch: [{ containers: ['x'] }] }, defaults);
  const doc = toRulesDocument(set);
  assert.equal(doc.watch.length, 1, 'the WATCH_CONTAINERS entry is not part of the document');
  const again = toRulesDocument(buildRuleSet(JSON.parse(JSON.stringify(doc)), defaults));
  assert.deepEqual(again, doc);
  const api = err(() => buildRuleSet({ rules: [{ id: 'cpu', threshold: 'high' }] }, defaults));
  assert.equal(api.field, 'rules.0.threshold');
});

test('autoheal in the rules document: a rule action and override values, validated and round-tripped', () => {
  const set = buildRuleSet({
    rules: [{ id: 'unhealthy', action: 'restart' }],
    overrides: [{ match: 'worker-*', autoheal: 'unhealthy|oom' }, { match: 'db', autoheal: false }],
  }, defaults);
  assert.equal(set.rules.find((r) => r.id === 'unhealthy')!.action, 'restart');
  assert.deepEqual(set.overrides.map((o) => o.autoheal), [['unhealthy', 'oom'], []]);
  const doc = toRulesDocument(set);
  assert.equal(doc.rules.find((r) => r.id === 'unhealthy')!.action, 'restart');
  assert.deepEqual(toRulesDocument(buildRuleSet(doc, defaults)), doc, 'round-trips');
  const cases: [unknown, string, RegExp][] = [
    [{ overrides: [{ match: 'w', autoheal: 'sometimes' }] }, 'overrides.0.autoheal', /unknown autoheal value "sometimes"/],
    [{ rules: [{ id: 'cpu', action: 'restart' }] }, 'rules.0.action', /restart applies to unhealthy, stopped, oom rules, not cpu/],
    [{ rules: [{ id: 'oom', action: 'reboot' }] }, 'rules.0.action', /restart/],
  ];
  for (const [doc2, field, msg] of cases) {
    const e = err(() => buildRuleSet(doc2, defaults));
    assert.equal(e.field, field);
    assert.match(e.message, msg);
  }
});
