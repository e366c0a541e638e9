import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileSubscriptionFilter, parseLabelSelector, checkGlob, type SubscriptionFilterInput,
} from '../../src/application/subscription-filter.js';
import { AppError } from '../../src/application/errors.js';
import { batch, container } from '../helpers/grpc-fixtures.js';

const c = (over: Partial<{ id: string; name: string; host: string; agentId: string; labels: Record<string, string> }>) => ({
  id: 'abc123def456', name: 'web-1', host: 'h1', agentId: 'a1', labels: {}, ...over,
});

test('matches containers: lists OR within, AND across', () => {
  const table: [SubscriptionFilterInput, ReturnType<typeof c>, boolean][] = [
    [{}, c({}), true],
    [{ hosts: ['h1'] }, c({}), true],
    [{ hosts: ['a1'] }, c({}), true],
    [{ hosts: ['h2'] }, c({}), false],
    [{ hosts: ['h2', 'h1'] }, c({}), true],
    [{ containerIds: ['abc123'] }, c({}), true],
    [{ containerIds: ['ABC123DEF456'] }, c({}), true],
    [{ containerIds: ['def'] }, c({}), false],
    [{ names: ['web-*'] }, c({}), true],
    [{ names: ['web-*'] }, c({ name: '/web-2' }), true],
    [{ names: ['db-*', 'web-[0-9]'] }, c({}), true],
    [{ names: ['db-*'] }, c({}), false],
    [{ names: ['web-{1,2}'] }, c({ name: 'web-3' }), false],
    [{ labels: ['env'] }, c({ labels: { env: 'prod' } }), true],
    [{ labels: ['env'] }, c({}), false],
    [{ labels: ['!env'] }, c({}), true],
    [{ labels: ['!env'] }, c({ labels: { env: 'x' } }), false],
    [{ labels: ['env=prod'] }, c({ labels: { env: 'prod' } }), true],
    [{ labels: ['env=prod'] }, c({ labels: { env: 'dev' } }), false],
    [{ labels: ['env!=prod'] }, c({ labels: { env: 'dev' } }), true],
    [{ labels: ['env!=prod'] }, c({}), true],
    [{ labels: ['env=prod', 'tier=web'] }, c({ labels: { env: 'prod', tier: 'db' } }), false],
    [{ labels: ['url=http://x/?a=b'] }, c({ labels: { url: 'http://x/?a=b' } }), true],
    [{ labels: ['com.docker.compose.project=shop'] }, c({ labels: { 'com.docker.compose.project': 'shop' } }), true],
    [{ hosts: ['h1'], names: ['db-*'] }, c({}), false],
  ];
  for (const [input, cont, want] of table) {
    assert.equal(compileSubscriptionFilter(input).matchesContainer(cont), want, JSON.stringify([input, cont]));
  }
});

test('bad filters are INVALID_ARGUMENT naming the field', () => {
  const table: [SubscriptionFilterInput, string, RegExp][] = [
    [{ labels: ['env', 'env==prod'] }, 'labels[1]', /unknown operator "=="/],
    [{ labels: ['env~=prod'] }, 'labels[0]', /unknown operator/],
    [{ labels: ['env>3'] }, 'labels[0]', /unknown operator/],
    [{ labels: ['=prod'] }, 'labels[0]', /missing label key/],
    [{ labels: [''] }, 'labels[0]', /empty/],
    [{ labels: ['!env=prod'] }, 'labels[0]', /bare label key/],
    [{ labels: ['bad key=1'] }, 'labels[0]', /invalid label key/],
    [{ names: ['web-['] }, 'names[0]', /unclosed "\["/],
    [{ names: ['ok', 'web-{a,b'] }, 'names[1]', /unclosed "\{"/],
    [{ names: ['web)'] }, 'names[0]', /unbalanced/],
    [{ names: [''] }, 'names[0]', /empty glob/],
    [{ names: ['web\\'] }, 'names[0]', /escape/],
    [{ names: ['x'.repeat(300)] }, 'names[0]', /longer/],
    [{ containerIds: [' '] }, 'container_ids[0]', /empty/],
    [{ hosts: [''] }, 'hosts[0]', /empty/],
  ];
  for (const [input, field, msg] of table) {
    assert.throws(() => compileSubscriptionFilter(input), (err: unknown) => {
      assert.ok(err instanceof AppError, 'AppError');
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.field, field);
      assert.match(err.message, msg);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
      return true;
    }, JSON.stringify(input));
  }
});

test('field names in errors can follow the caller (e.g. WebSocket query names)', () => {
  assert.throws(
    () => compileSubscriptionFilter({ labels: ['a=b', 'x=>y'] }, { hosts: 'host', containerIds: 'id', names: 'name', labels: 'label' }),
    (e: unknown) => e instanceof AppError && e.field === 'label[1]',
  );
});

test('globs: escapes and classes that are fine', () => {
  for (const g of ['web-*', 'a\\[b', '[]]x', '[a-z]*', '{a,b}-*', '@(a|b)', '**']) {
    assert.doesNotThrow(() => checkGlob(g, 'names[0]'), g);
  }
});

test('parseLabelSelector', () => {
  assert.deepEqual(parseLabelSelector('a=b=c', 'l'), { op: 'eq', key: 'a', value: 'b=c' });
  assert.deepEqual(parseLabelSelector('a=', 'l'), { op: 'eq', key: 'a', value: '' });
  assert.deepEqual(parseLabelSelector(' !a ', 'l'), { op: 'absent', key: 'a' });
  assert.deepEqual(parseLabelSelector('a!=b', 'l'), { op: 'neq', key: 'a', value: 'b' });
});

test('filterBatch keeps matching containers, their events, host only on request', () => {
  const b = batch('agent1', 5, {
    containers: [container('x1', { name: 'web-1', labels: { env: 'prod' } }), container('x2', { name: 'db-1' })],
    events: [
      { containerId: 'x1', containerName: 'web-1', action: 'start', timestampMs: Date.now(), exitCode: 0, health: '', attributes: {} },
      { containerId: 'gone', containerName: 'web-9', action: 'destroy', timestampMs: Date.now(), exitCode: 0, health: '', attributes: { env: 'prod' } },
      { containerId: 'x2', containerName: 'db-1', action: 'die', timestampMs: Date.now(), exitCode: 1, health: '', attributes: {} },
    ],
  });
  const f = compileSubscriptionFilter({ names: ['web-*'] });
  const out = f.filterBatch(b);
  assert.ok(out);
  assert.deepEqual(out.containers.map((x) => x.id), ['x1']);
  assert.deepEqual(out.events.map((e) => e.containerId), ['x1', 'gone']);
  assert.equal(out.host, null);
  assert.equal(out.sequence, 5);

  const withHost = compileSubscriptionFilter({ names: ['nothing-*'], includeHost: true }).filterBatch(b);
  assert.ok(withHost);
  assert.equal(withHost.containers.length, 0);
  assert.ok(withHost.host);

  assert.equal(compileSubscriptionFilter({ names: ['nothing-*'] }).filterBatch(b), null);
  assert.equal(compileSubscriptionFilter({ hosts: ['other'] , includeHost: true }).filterBatch(b), null);
});
