// The agent's command handler (autoheal restarts) with a fake restart port: refusals, one
// command per container, duplicates, timeouts, Engine errors; and the event injector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTOHEAL_OFF_ERROR, createCommandHandler, withInjectedEvents, type CommandHandlerDeps } from '../../src/application/agent-commands.js';
import { commandResultFromEvent } from '../../src/domain/agent-commands.js';
import { AUTOHEAL_EVENT_ACTION, type AgentCommand, type AgentCommandResult } from '../../src/domain/control.js';
import type { ContainerEvent } from '../../src/domain/types.js';
import { testLogger } from '../helpers/grpc-fixtures.js';

const cmd = (id: string, over: Partial<AgentCommand> = {}): AgentCommand =>
  ({ id, kind: 'restart', containerId: 'cid-1', containerName: 'web-1', timeoutSec: 5, reason: 'unhealthy', ...over });

function setup(over: Partial<CommandHandlerDeps> = {}) {
  const events: ContainerEvent[] = [];
  const calls: Array<[string, number]> = [];
  let now = 1_700_000_000_000;
  const handle = createCommandHandler({
    restart: async (id, t) => { calls.push([id, t]); now += 250; },
    enabled: true, log: testLogger(), report: (e) => events.push(e), clock: () => now, ...over,
  });
  const results = (): Array<AgentCommandResult | null> => events.map(commandResultFromEvent);
  return { handle, events, calls, results };
}

test('a restart runs through the port and is reported restarted, with the duration and the container name', async () => {
  const s = setup();
  await s.handle(cmd('k1', { timeoutSec: 7 }));
  assert.deepEqual(s.calls, [['cid-1', 7]]);
  assert.deepEqual(s.results(), [{ commandId: 'k1', containerId: 'cid-1', outcome: 'restarted', durationMs: 250 }]);
  assert.equal(s.events[0]!.containerName, 'web-1');
  assert.equal(s.events[0]!.action, AUTOHEAL_EVENT_ACTION);
  assert.equal(s.events[0]!.attributes.kind, 'restart');
});

const refusals: Array<[string, Partial<CommandHandlerDeps>, AgentCommand, RegExp]> = [
  ['AUTOHEAL=off', { enabled: false }, cmd('r1'), /^AUTOHEAL=off on this agent$/],
  ['a runtime without restart (ECS)', { restart: undefined }, cmd('r2'), /cannot restart containers/],
  ['an unknown kind', {}, cmd('r3', { kind: 'stop' as AgentCommand['kind'] }), /unknown command kind "stop"/],
];
for (const [name, deps, c, error] of refusals) {
  test(`refused: ${name}; the runtime is not touched`, async () => {
    const s = setup(deps);
    await s.handle(c);
    assert.deepEqual(s.calls, []);
    const [r] = s.results();
    assert.equal(r?.outcome, 'refused');
    assert.match(r!.error ?? '', error);
    assert.equal(r!.commandId, c.id);
  });
}

test('AUTOHEAL_OFF_ERROR is the documented text', () => {
  assert.equal(AUTOHEAL_OFF_ERROR, 'AUTOHEAL=off on this agent');
});

test('the Engine error becomes a failed outcome with its message', async () => {
  const s = setup({ restart: async () => { throw new Error('no such container: cid-1'); } });
  await s.handle(cmd('f1'));
  assert.deepEqual(s.results(), [{ commandId: 'f1', containerId: 'cid-1', outcome: 'failed', error: 'no such container: cid-1', durationMs: 0 }]);
});

test('a restart that throws synchronously is a failed outcome too, not a crash', async () => {
  const s = setup({ restart: () => { throw new Error('sync boom'); } });
  await s.handle(cmd('f2'));
  assert.equal(s.results()[0]?.error, 'sync boom');
});

test('a duplicate command id is ignored: no second restart, no second report', async () => {
  const s = setup();
  await s.handle(cmd('d1'));
  await s.handle(cmd('d1'));
  assert.equal(s.calls.length, 1);
  assert.equal(s.events.length, 1);
});

test('one command per container at a time: a second one while the first runs is refused; other containers go ahead', async () => {
  let release!: () => void;
  const calls: string[] = [];
  const s = setup({
    restart: (id) => {
      calls.push(id);
      // Only the first restart of cid-1 waits for release().
      return id === 'cid-1' && calls.length === 1 ? new Promise<void>((r) => { release = r; }) : Promise.resolve();
    },
  });
  const first = s.handle(cmd('a1'));
  await new Promise((r) => setImmediate(r));
  await s.handle(cmd('a2'));
  await s.handle(cmd('b1', { containerId: 'cid-2', containerName: 'db' }));
  assert.deepEqual(calls, ['cid-1', 'cid-2']);
  release();
  await first;
  // Free again once the first one is done.
  await s.handle(cmd('a3'));
  const byId = new Map(s.results().map((r) => [r!.commandId, r!]));
  assert.equal(byId.get('a2')?.outcome, 'refused');
  assert.match(byId.get('a2')?.error ?? '', /command a1 is still running/);
  assert.equal(byId.get('b1')?.outcome, 'restarted');
  assert.equal(byId.get('a1')?.outcome, 'restarted');
  assert.equal(byId.get('a3')?.outcome, 'restarted');
  assert.deepEqual(calls, ['cid-1', 'cid-2', 'cid-1']);
});

test('a restart that hangs past timeoutSec + grace is reported failed; the container stays busy until the Engine answers', async () => {
  let release!: () => void;
  const s = setup({ restart: () => new Promise<void>((r) => { release = r; }), graceMs: 50 });
  const started = Date.now();
  await s.handle(cmd('t1', { timeoutSec: 0 }));
  assert.ok(Date.now() - started >= 45, 'waited for the limit');
  const [r] = s.results();
  assert.equal(r?.outcome, 'failed');
  assert.match(r!.error ?? '', /did not finish within/);
  await s.handle(cmd('t2', { timeoutSec: 0 }));
  assert.equal(s.results()[1]?.outcome, 'refused', 'still busy while the first call has not returned');
  release();
  await new Promise((res) => setImmediate(res));
  // Free again: t3 is taken (and times out like t1, the fake hangs again), not refused.
  await s.handle(cmd('t3', { timeoutSec: 0 }));
  assert.equal(s.results()[2]?.outcome, 'failed');
  assert.match(s.results()[2]!.error ?? '', /did not finish within/);
  release();
});

test('the default limit is timeoutSec + 30 s', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const s = setup({ restart: () => new Promise<void>(() => {}) });
  const done = s.handle(cmd('m1', { timeoutSec: 10 }));
  await new Promise((r) => setImmediate(r));
  t.mock.timers.tick(39_999);
  await new Promise((r) => setImmediate(r));
  assert.equal(s.events.length, 0, 'not yet at 39.999 s');
  t.mock.timers.tick(1);
  await done;
  assert.equal(s.results()[0]?.outcome, 'failed');
  assert.match(s.results()[0]!.error!, /within 40 s/);
});

test('withInjectedEvents: injected events reach the loop\'s handler next to the runtime\'s; early ones are kept', () => {
  let runtimeHandler: ((e: ContainerEvent) => void) | null = null;
  let stopped = false;
  const inj = withInjectedEvents((onEvent) => { runtimeHandler = onEvent; return () => { stopped = true; }; });
  const e = (action: string): ContainerEvent => ({ containerId: 'x', containerName: 'x', action, timestampMs: 1, exitCode: 0, health: '', attributes: {} });
  inj.inject(e('early'));
  const got: string[] = [];
  const stop = inj.watchEvents((ev) => got.push(ev.action));
  runtimeHandler!(e('die'));
  inj.inject(e(AUTOHEAL_EVENT_ACTION));
  assert.deepEqual(got, ['early', 'die', AUTOHEAL_EVENT_ACTION]);
  stop();
  assert.equal(stopped, true);
  inj.inject(e('after-stop'));
  assert.deepEqual(got, ['early', 'die', AUTOHEAL_EVENT_ACTION]);
});
