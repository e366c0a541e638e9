// User changes reach the audit trail from the users file: adds, removes, role and password
// changes, named by who changed the file; replicas sharing the store record a change once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { auditUserChanges, type UsersView } from '../../src/application/user-audit.js';
import type { AuditInput } from '../../src/application/control.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { createMemoryControlStore } from '../helpers/memory-control-store.js';

function setup() {
  const store = createMemoryControlStore();
  const audits: AuditInput[] = [];
  let view: UsersView = { users: [] };
  const claim = createLocalCooldown();
  const run = () => auditUserChanges({
    read: async () => view, store, audit: async (e) => { audits.push(e); }, claim,
    fingerprint: (t) => createHash('sha256').update(t).digest('hex').slice(0, 16),
  });
  return { audits, run, set: (v: UsersView) => { view = v; } };
}

test('users added, changed and removed are audited once each, with who changed the file', async () => {
  const s = setup();
  s.set({ users: [{ username: 'admin', role: 'admin', passwordHash: 'h1' }] });
  assert.equal(await s.run(), 1);
  assert.equal(s.audits[0]!.details['initial'], true, 'the first look records what is there');
  assert.equal(await s.run(), 0, 'nothing changed');
  s.set({ users: [{ username: 'admin', role: 'admin', passwordHash: 'h1' }, { username: 'ops', role: 'viewer', passwordHash: 'h2' }], changedBy: 'cli:root@node-1' });
  assert.equal(await s.run(), 1);
  assert.deepEqual(s.audits[1], { actor: 'cli:root@node-1', action: 'user.add', target: 'ops', outcome: 'ok', details: { role: 'viewer' } });
  s.set({ users: [{ username: 'admin', role: 'admin', passwordHash: 'h1b' }, { username: 'ops', role: 'admin', passwordHash: 'h2' }], changedBy: 'cli:alice@node-1' });
  await s.run();
  assert.deepEqual(s.audits.slice(2).map((a) => [a.action, a.target, a.details]), [
    ['user.change', 'admin', { password: 'changed' }],
    ['user.change', 'ops', { role: { from: 'viewer', to: 'admin' } }],
  ]);
  s.set({ users: [{ username: 'admin', role: 'admin', passwordHash: 'h1b' }], changedBy: 'cli:alice@node-1' });
  await s.run();
  assert.deepEqual(s.audits.slice(4).map((a) => `${a.actor} ${a.action} ${a.target}`), ['cli:alice@node-1 user.remove ops']);
  assert.ok(!JSON.stringify(s.audits).includes('h1b'), 'no password hash in the trail');
});
