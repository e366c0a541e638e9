// The history page's annotations from lifecycle events and alerts (web/annotations.js): the event
// sequences Docker 20.10 emits (seen on the test engine), table-driven.
import { test } from 'node:test';
import assert from 'node:assert/strict';

interface Ev { containerId: string; action: string; ts: number; exitCode: number }
interface Ann { ts: number; kind: string; text: string; targetId: string; source: string }
const mod = '../../web/annotations.js';
const { lifecycleAnnotations, mergeAnnotations, fmtDown } = (await import(mod)) as {
  lifecycleAnnotations: (e: Ev[]) => Ann[];
  mergeAnnotations: (l: Ann[], a: Ann[]) => Ann[];
  fmtDown: (ms: number) => string;
};

const seq = (id: string, ...steps: Array<[string, number, number?]>): Ev[] =>
  steps.map(([action, ts, exitCode]) => ({ containerId: id, action, ts, exitCode: exitCode ?? 0 }));
const brief = (anns: Ann[]) => anns.map((a) => `${a.targetId}@${a.ts} ${a.kind}: ${a.text}`);

const cases: Array<[string, Ev[], string[]]> = [
  ['docker restart: kill, die, stop, start, restart -> one restart',
    seq('a', ['start', 0], ['kill', 1000], ['kill', 2000], ['die', 2000, 137], ['stop', 2000], ['start', 3000], ['restart', 3001]),
    ['a@3000 restart: restarted (exit 137, down 1 s)']],
  ['docker restart with start and restart in one millisecond, sorted by name as the store does',
    seq('a', ['die', 2000, 137], ['restart', 2400], ['start', 2400]), ['a@2400 restart: restarted (exit 137, down 0 s)']],
  ['restart policy: die, start, die, start -> two restarts',
    seq('p', ['start', 0], ['die', 1000, 3], ['start', 1500], ['die', 2500, 3], ['start', 62_500]),
    ['p@1500 restart: restarted (exit 3, down 1 s)', 'p@62500 restart: restarted (exit 3, down 1 min)']],
  ['OOM with the main process alive: oom only', seq('o', ['start', 0], ['oom', 4000]), ['o@4000 oom: OOM kill']],
  ['OOM that killed the main process: its die is the exit, not another annotation',
    seq('o', ['oom', 4000], ['die', 4001, 137]), ['o@4000 oom: OOM kill (exit 137)']],
  ['OOM, then a restart by policy', seq('o', ['oom', 4000], ['die', 4001, 137], ['start', 5000]),
    ['o@4000 oom: OOM kill (exit 137)', 'o@5000 restart: restarted (exit 137, down 1 s)']],
  ['stopped for good: died', seq('s', ['start', 0], ['die', 9000, 0]), ['s@9000 die: died (exit 0)']],
  ['a restart of a stopped container (no die in range): the restart action', seq('r', ['start', 500], ['restart', 501]),
    ['r@501 restart: restarted']],
  ['a plain start or health change: nothing', seq('n', ['create', 0], ['start', 1], ['health_status', 5]), []],
  ['out of order input, two containers', [...seq('b', ['start', 3000]), ...seq('a', ['die', 2000, 1]), ...seq('b', ['die', 1000, 2])],
    ['a@2000 die: died (exit 1)', 'b@3000 restart: restarted (exit 2, down 2 s)']],
];

for (const [name, events, want] of cases) {
  test(`lifecycle annotations: ${name}`, () => {
    const got = lifecycleAnnotations(events);
    assert.deepEqual(brief(got), want);
    assert.ok(got.every((a) => a.source === 'event'));
  });
}

test('alerts: an OOM alert near the oom event folds into it; other alerts stay on their own', () => {
  const life = lifecycleAnnotations(seq('o', ['oom', 10_000]));
  const alert = (ts: number, kind: string, targetId = 'o'): Ann => ({ ts, kind, text: `critical: ${kind}`, targetId, source: 'alert' });
  const got = mergeAnnotations(life, [alert(10_500, 'oom'), alert(200_000, 'oom'), alert(11_000, 'oom', 'x'), alert(12_000, 'alert')]);
  assert.deepEqual(got.map((a) => `${a.targetId}@${a.ts} ${a.source} ${a.text}`), [
    'o@10000 event OOM kill · critical: oom',
    'x@11000 alert critical: oom',
    'o@12000 alert critical: alert',
    'o@200000 alert critical: oom',
  ]);
  assert.equal(life[0]!.text, 'OOM kill', 'the inputs are not changed');
});

test('time down', () => {
  assert.deepEqual([0, 1400, 59_000, 90_000, 3_600_000, 3_900_000].map(fmtDown), ['0 s', '1 s', '59 s', '2 min', '1 h', '1 h 5 min']);
});
