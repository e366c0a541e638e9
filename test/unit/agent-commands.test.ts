// The command result as a ContainerEvent: encode, decode, and what decoding refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandResultEvent, commandResultFromEvent } from '../../src/domain/agent-commands.js';
import { AUTOHEAL_EVENT_ACTION, type AgentCommandResult } from '../../src/domain/control.js';
import type { ContainerEvent } from '../../src/domain/types.js';
import { commandFromWire, commandToWire } from '../../src/infrastructure/grpc/mapping.js';

const AT = 1_700_000_000_000;

const encodes: Array<[string, AgentCommandResult, Record<string, string>]> = [
  ['restarted, no error attribute', { commandId: 'c1', containerId: 'abc', outcome: 'restarted', durationMs: 1234 },
    { command_id: 'c1', outcome: 'restarted', duration_ms: '1234', kind: 'restart' }],
  ['failed with the Engine message', { commandId: 'c2', containerId: 'abc', outcome: 'failed', error: 'no such container: abc', durationMs: 7 },
    { command_id: 'c2', outcome: 'failed', error: 'no such container: abc', duration_ms: '7', kind: 'restart' }],
  ['refused', { commandId: 'c3', containerId: 'abc', outcome: 'refused', error: 'AUTOHEAL=off on this agent', durationMs: 0 },
    { command_id: 'c3', outcome: 'refused', error: 'AUTOHEAL=off on this agent', duration_ms: '0', kind: 'restart' }],
  ['fractional and negative durations become whole ms, never below 0', { commandId: 'c4', containerId: 'abc', outcome: 'restarted', durationMs: -3.4 },
    { command_id: 'c4', outcome: 'restarted', duration_ms: '0', kind: 'restart' }],
  ['an empty error is left out', { commandId: 'c5', containerId: 'abc', outcome: 'failed', error: '', durationMs: 12.6 },
    { command_id: 'c5', outcome: 'failed', duration_ms: '13', kind: 'restart' }],
];
for (const [name, result, attributes] of encodes) {
  test(`commandResultEvent: ${name}`, () => {
    const ev = commandResultEvent(result, 'web-1', AT);
    assert.deepEqual(ev, {
      containerId: 'abc', containerName: 'web-1', action: AUTOHEAL_EVENT_ACTION, timestampMs: AT, exitCode: 0, health: '', attributes,
    });
  });
}

test('round trip: what the agent encodes the server decodes unchanged', () => {
  for (const [, result] of encodes.slice(0, 3)) {
    assert.deepEqual(commandResultFromEvent(commandResultEvent(result, 'web-1', AT)), result);
  }
});

const ev = (over: Partial<ContainerEvent> & { attributes?: Record<string, string> }): ContainerEvent => ({
  containerId: 'abc', containerName: 'web-1', action: AUTOHEAL_EVENT_ACTION, timestampMs: AT, exitCode: 0, health: '',
  attributes: { command_id: 'c1', outcome: 'restarted', duration_ms: '10', kind: 'restart' }, ...over,
});

const decodes: Array<[string, ContainerEvent, AgentCommandResult | null]> = [
  ['a die event', ev({ action: 'die', attributes: { command_id: 'c1', outcome: 'restarted' } }), null],
  ['a health_status event', ev({ action: 'health_status', health: 'unhealthy' }), null],
  ['an unknown outcome', ev({ attributes: { command_id: 'c1', outcome: 'exploded', duration_ms: '1' } }), null],
  ['outcome "pending" (server-side only)', ev({ attributes: { command_id: 'c1', outcome: 'pending', duration_ms: '1' } }), null],
  ['an outcome in another case', ev({ attributes: { command_id: 'c1', outcome: 'Restarted', duration_ms: '1' } }), null],
  ['no command id', ev({ attributes: { outcome: 'restarted', duration_ms: '1' } }), null],
  ['no attributes at all', ev({ attributes: {} }), null],
  ['no container id', ev({ containerId: '' }), null],
  ['a garbled duration reads as 0', ev({ attributes: { command_id: 'c9', outcome: 'failed', error: 'boom', duration_ms: 'soon' } }),
    { commandId: 'c9', containerId: 'abc', outcome: 'failed', error: 'boom', durationMs: 0 }],
  ['a missing duration reads as 0', ev({ attributes: { command_id: 'c9', outcome: 'refused' } }),
    { commandId: 'c9', containerId: 'abc', outcome: 'refused', durationMs: 0 }],
  ['a negative duration reads as 0', ev({ attributes: { command_id: 'c9', outcome: 'restarted', duration_ms: '-5' } }),
    { commandId: 'c9', containerId: 'abc', outcome: 'restarted', durationMs: 0 }],
  ['a valid one', ev({}), { commandId: 'c1', containerId: 'abc', outcome: 'restarted', durationMs: 10 }],
];
for (const [name, input, expected] of decodes) {
  test(`commandResultFromEvent: ${name}`, () => {
    assert.deepEqual(commandResultFromEvent(input), expected);
  });
}

test('commands on the wire: sequence 0, STATUS_UNSPECIFIED; commandFromWire needs an id and a container id', () => {
  const cmd = { id: 'k1', kind: 'restart' as const, containerId: 'abc', containerName: 'web-1', timeoutSec: 10, reason: 'unhealthy' };
  const wire = commandToWire('agent-1', cmd);
  assert.equal(wire.sequence, 0);
  assert.equal(wire.status, 'STATUS_UNSPECIFIED');
  assert.deepEqual(commandFromWire(wire.command!), cmd);
  assert.equal(commandFromWire({ ...wire.command!, id: '' }), null);
  assert.equal(commandFromWire({ ...wire.command!, containerId: '' }), null);
  assert.equal(commandFromWire({ ...wire.command!, kind: 'stop' })?.kind, 'stop', 'unknown kinds pass on, for the handler to refuse');
});
