import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleKey, initialUiState, NO_KEY, type KeyFlags, type UiState } from '../../src/infrastructure/tui/keys.js';
import { applyBatch, createModel, visibleRows } from '../../src/infrastructure/tui/model.js';
import { parseTopArgs } from '../../src/infrastructure/tui/args.js';
import { classifyError, fatalMessage, TOP_EXIT } from '../../src/infrastructure/tui/top.js';
import { AppError } from '../../src/application/errors.js';
import { batch, containerSample } from '../helpers/prometheus-samples.js';

const model = createModel();
applyBatch(model, batch({ hostname: 'h', containers: [
  containerSample({ id: '1', name: 'alpha', cpuPercent: 1, memUsageBytes: 30 }),
  containerSample({ id: '2', name: 'beta', cpuPercent: 9, memUsageBytes: 20 }),
  containerSample({ id: '3', name: 'gamma', cpuPercent: 5, memUsageBytes: 10 }),
] }));
const rowsFor = (s: UiState) => visibleRows(model, s.sort, s.filter);
const press = (s: UiState, input: string, key: Partial<KeyFlags> = {}) => handleKey(s, input, { ...NO_KEY, ...key }, rowsFor, 10);

test('sort keys, filter typing (also several characters in one read), Esc clears', () => {
  let s = initialUiState();
  assert.equal(s.sort, 'cpu');
  for (const [k, want] of [['m', 'mem'], ['n', 'net'], ['a', 'name'], ['N', 'name'], ['c', 'cpu']] as const) {
    s = press(s, k);
    assert.equal(s.sort, want, k);
  }
  s = press(s, '/gam');
  assert.equal(s.editing, true);
  assert.equal(s.filter, 'gam');
  // While typing, sort letters are text, not commands.
  s = press(s, 'm');
  assert.equal(s.filter, 'gamm');
  assert.equal(s.sort, 'cpu');
  s = press(s, '', { backspace: true });
  assert.equal(s.filter, 'gam');
  s = press(s, '', { return: true });
  assert.equal(s.editing, false);
  assert.deepEqual(rowsFor(s).map((r) => r.name), ['gamma']);
  s = press(s, '', { escape: true });
  assert.equal(s.filter, '');
});

test('navigation, detail view and back, quit', () => {
  let s = initialUiState();
  // cpu order: beta, gamma, alpha
  s = press(s, '', { downArrow: true });
  s = press(s, '', { downArrow: true });
  s = press(s, '', { downArrow: true });
  assert.equal(s.selectedKey, 'h/1');
  s = press(s, '', { upArrow: true });
  assert.equal(s.selectedKey, 'h/3');
  s = press(s, '', { return: true });
  assert.equal(s.detailKey, 'h/3');
  // In the detail view sort keys do nothing; Esc goes back to the same selection.
  assert.equal(press(s, 'm').sort, 'cpu');
  s = press(s, '', { escape: true });
  assert.equal(s.detailKey, null);
  assert.equal(s.selectedKey, 'h/3');
  s = press(s, 'g');
  assert.equal(s.selectedKey, 'h/2');
  assert.equal(press(s, 'q').quit, true);
  assert.equal(press(press(s, '', { return: true }), 'q').quit, true);
});

test('parseTopArgs: flags win over the environment, bad input is refused', () => {
  const env = { DOCKWATCH_SERVER: 'srv:6000', SERVER_ADDR: 'other:1', DOCKWATCH_TOKEN: 'envtok' };
  assert.deepEqual(parseTopArgs([], env), { server: 'srv:6000', token: 'envtok', filter: { hosts: [], names: [], labels: [], containerIds: [] } });
  const a = parseTopArgs(['--server', '127.0.0.1:7000', '--token=t', '--name', 'web-*', '--label', 'env=prod'], env);
  assert.ok(a !== 'help');
  assert.equal(a.server, '127.0.0.1:7000');
  assert.equal(a.token, 't');
  assert.deepEqual(a.filter.names, ['web-*']);
  assert.equal((parseTopArgs([], { SERVER_ADDR: 'x:1' }) as { server: string }).server, 'x:1');
  assert.equal((parseTopArgs([], {}) as { server: string }).server, '127.0.0.1:50051');
  assert.equal(parseTopArgs(['-h'], {}), 'help');
  assert.throws(() => parseTopArgs(['--bogus'], {}), /unknown argument/);
  assert.throws(() => parseTopArgs(['--server'], {}), /needs a value/);
  assert.throws(() => parseTopArgs(['--server', 'nohostport'], {}), /host:port/);
});

test('subscription errors map to the messages and exit codes of top', () => {
  assert.equal(classifyError({ code: 14, details: 'No connection established' }).kind, 'unreachable');
  assert.equal(classifyError(new AppError('UNAVAILABLE', 'down')).kind, 'unreachable');
  assert.equal(classifyError({ code: 16, details: 'bad token' }).kind, 'refused');
  assert.equal(classifyError({ code: 7, details: 'role' }).kind, 'refused');
  assert.equal(classifyError({ code: 3, details: 'names[0]: bad glob' }).kind, 'invalid');
  assert.equal(classifyError(new Error('boom')).kind, 'other');

  const unreachable = fatalMessage('10.0.0.1:50051', 'tok', { code: 14, message: '14 UNAVAILABLE: connect ECONNREFUSED' });
  assert.equal(unreachable.exitCode, TOP_EXIT.unreachable);
  assert.equal(unreachable.message, 'cannot reach server at 10.0.0.1:50051: connect ECONNREFUSED');
  const refused = fatalMessage('s:1', 'tok', { code: 16, details: 'invalid token' });
  assert.equal(refused.exitCode, TOP_EXIT.refused);
  assert.match(refused.message, /refused the token \(UNAUTHENTICATED\)/);
  assert.doesNotMatch(refused.message, /tok\b/);
  assert.match(fatalMessage('s:1', undefined, { code: 16, details: 'missing bearer token' }).message, /no token given/);
});
