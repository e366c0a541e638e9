// Pure parts of the control area: Alertmanager-style silence matching and the autoheal policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutohealAttempt, Matcher, Silence } from '../../src/domain/control.js';
import { type AlertLabels, matchesEverything, silenceMatches, silenceStatus, silencedBy } from '../../src/domain/silences.js';
import { DEFAULT_AUTOHEAL_LIMITS, decideAutoheal, givenUpCleared, parseAutohealValue } from '../../src/domain/autoheal.js';

const alert: AlertLabels = {
  alertname: 'unhealthy', severity: 'critical', host: 'node-1', container: 'web-1', container_id: 'abc123',
  labels: { team: 'payments', 'com.docker.compose.project': 'shop' },
};
const silence = (matchers: Matcher[], p: Partial<Silence> = {}): Silence => ({
  id: 's1', matchers, startsAtMs: 1000, endsAtMs: 2000, comment: 'c', createdBy: 'admin', createdAtMs: 0, updatedAtMs: 0, ...p,
});
const m = (name: string, op: Matcher['op'], value: string): Matcher => ({ name, op, value });

test('silence matchers: every matcher must match (AND), globs for =, anchored regex for =~', () => {
  const cases: [Matcher[], boolean][] = [
    [[m('container', '=', 'web-*')], true],
    [[m('container', '=', 'web')], false],
    [[m('container', '=', 'web-1'), m('host', '=', 'node-2')], false],
    [[m('container', '=', 'web-1'), m('host', '=', 'node-?')], true],
    [[m('container', '!=', 'db-*')], true],
    [[m('container', '=~', 'web')], false], // anchored: "web" is not "web-1"
    [[m('container', '=~', 'web-\\d+')], true],
    [[m('container', '!~', 'web-.*')], false],
    [[m('label.team', '=', 'payments')], true],
    [[m('label.team', '=', 'search')], false],
    [[m('label.missing', '=', '')], true], // an absent label reads as ""
    [[m('label.missing', '=~', '.+')], false],
    [[m('alertname', '=', 'unhealthy'), m('severity', '=', 'critical')], true],
    [[m('container_id', '=', 'abc*')], true],
  ];
  for (const [ms, want] of cases) assert.equal(silenceMatches(silence(ms), alert), want, JSON.stringify(ms));
});

test('silence status: pending before startsAt, active up to endsAt (exclusive), expired after', () => {
  const s = silence([m('host', '=', 'node-1')]);
  assert.equal(silenceStatus(s, 999), 'pending');
  assert.equal(silenceStatus(s, 1000), 'active');
  assert.equal(silenceStatus(s, 1999), 'active');
  assert.equal(silenceStatus(s, 2000), 'expired');
  assert.deepEqual(silencedBy([s], alert, 1500), ['s1']);
  assert.deepEqual(silencedBy([s], alert, 2500), []);
  assert.deepEqual(silencedBy([s], alert, 500), []);
});

test('matchesEverything: refuses catch-alls and matcher sets that match the empty string', () => {
  assert.equal(matchesEverything([]), true);
  assert.equal(matchesEverything([m('container', '=', '*')]), true);
  assert.equal(matchesEverything([m('container', '=~', '.*')]), true);
  assert.equal(matchesEverything([m('container', '!=', 'db')]), true);
  assert.equal(matchesEverything([m('container', '=', '*'), m('host', '=', 'node-1')]), false);
  assert.equal(matchesEverything([m('container', '=', 'web-*')]), false);
  assert.equal(matchesEverything([m('label.team', '=', 'payments')]), false);
});

test('autoheal label values', () => {
  assert.deepEqual([...parseAutohealValue('true')], ['unhealthy']);
  assert.deepEqual([...parseAutohealValue(' TRUE ')], ['unhealthy']);
  assert.deepEqual([...parseAutohealValue('false')], []);
  assert.deepEqual([...parseAutohealValue('all')].sort(), ['exited', 'oom', 'unhealthy']);
  assert.deepEqual([...parseAutohealValue('unhealthy|oom')].sort(), ['oom', 'unhealthy']);
  assert.deepEqual([...parseAutohealValue('exited, oom')].sort(), ['exited', 'oom']);
  assert.throws(() => parseAutohealValue('unhealthy|sometimes'), /unknown autoheal value "sometimes"/);
});

const L = { ...DEFAULT_AUTOHEAL_LIMITS, backoffInitialMs: 10_000, backoffMaxMs: 25_000, maxRestarts: 3, windowMs: 3_600_000, maxPerHostPerMinute: 2 };
const att = (atMs: number, outcome: AutohealAttempt['outcome'] = 'restarted'): AutohealAttempt => ({ commandId: `c${atMs}`, atMs, trigger: 'unhealthy', outcome });

test('autoheal policy: restart, exponential backoff (capped), cap per window, host rate, sticky give-up', () => {
  const none = { attempts: [], hostAttemptsMs: [] };
  assert.deepEqual(decideAutoheal(none, 0, L), { action: 'restart', attempt: 1 });
  // backoff after 1 restart = 10 s, after 2 = 20 s, after 3 would be 40 s but capped at 25 s
  assert.equal(decideAutoheal({ attempts: [att(0)], hostAttemptsMs: [] }, 9_999, L).action, 'wait');
  assert.deepEqual(decideAutoheal({ attempts: [att(0)], hostAttemptsMs: [] }, 10_000, L), { action: 'restart', attempt: 2 });
  const two = { attempts: [att(0), att(10_000)], hostAttemptsMs: [] };
  const w = decideAutoheal(two, 20_000, L);
  assert.equal(w.action, 'wait');
  assert.equal(w.action === 'wait' && w.untilMs, 30_000);
  assert.deepEqual(decideAutoheal(two, 30_000, L), { action: 'restart', attempt: 3 });
  const capped = { ...L, maxRestarts: 5 };
  const four = { attempts: [att(0), att(10_000), att(30_000), att(70_000)], hostAttemptsMs: [] };
  const w4 = decideAutoheal(four, 80_000, capped);
  assert.equal(w4.action === 'wait' && w4.untilMs, 95_000);
  // the cap: 3 restarts in the window and still failing -> give up
  const three = { attempts: [att(0), att(10_000), att(30_000)], hostAttemptsMs: [] };
  assert.equal(decideAutoheal(three, 100_000, L).action, 'give_up');
  // attempts that left the window no longer count; refused ones never do
  assert.equal(decideAutoheal(three, 3_700_000, L).action, 'restart');
  assert.deepEqual(decideAutoheal({ attempts: [att(0, 'refused'), att(1, 'refused'), att(2, 'refused')], hostAttemptsMs: [] }, 5, L), { action: 'restart', attempt: 1 });
  // host rate: 2 per minute here
  const busy = decideAutoheal({ attempts: [], hostAttemptsMs: [50_000, 20_000] }, 60_000, L);
  assert.equal(busy.action, 'wait');
  assert.equal(busy.action === 'wait' && busy.untilMs, 80_000);
  assert.equal(decideAutoheal({ attempts: [], hostAttemptsMs: [50_000, 10_000] }, 75_000, L).action, 'restart');
  // once given up it stays so, even after the window slides (no slow loop of 3 an hour)
  assert.equal(decideAutoheal({ attempts: [], hostAttemptsMs: [], gaveUpAtMs: 100 }, 10_000_000, L).action, 'stay_given_up');
  assert.equal(givenUpCleared({ gaveUpAtMs: 100 }, 10_000_000, L), false);
  assert.equal(givenUpCleared({ gaveUpAtMs: 100, wellSinceMs: 1000 }, 1000 + L.stableMs - 1, L), false);
  assert.equal(givenUpCleared({ gaveUpAtMs: 100, wellSinceMs: 1000 }, 1000 + L.stableMs, L), true);
});
