// The ControlStore contract, one body for every adapter: registerControlStoreContract()
// registers node:test cases against a backend that hands out fresh, empty stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlStore } from '../../src/application/control-ports.js';
import type { Acknowledgement, AuditEvent, AutohealAttempt, Silence } from '../../src/domain/control.js';

export interface ContractStores {
  store: ControlStore;
  /**
   * A second handle on the same data, as another replica would hold it (its own connection).
   * The store itself where a second handle cannot exist (SQLite is owned by one process).
   */
  peer: ControlStore;
  dispose(): Promise<void>;
}

export type ContractBackend = () => Promise<ContractStores>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const silenceOf = (id: string, over: Partial<Silence> = {}): Silence => ({
  id, matchers: [{ name: 'alertname', op: '=', value: 'cpu' }], startsAtMs: 1_000, endsAtMs: 2_000, comment: `c-${id}`,
  createdBy: 'alice', createdAtMs: 1_000, updatedAtMs: 1_000, ...over,
});

export const auditOf = (id: string, atMs: number, over: Partial<AuditEvent> = {}): AuditEvent => ({
  id, atMs, actor: 'alice', action: 'silence.create', target: `t-${id}`, outcome: 'ok', details: { n: atMs, nested: { ok: true } }, ...over,
});

export const attemptOf = (commandId: string, atMs: number, over: Partial<AutohealAttempt> = {}): AutohealAttempt => ({
  commandId, atMs, trigger: 'unhealthy', outcome: 'pending', ...over,
});

async function withStores(backend: ContractBackend, fn: (s: ContractStores) => Promise<void>): Promise<void> {
  const s = await backend();
  try { await fn(s); } finally { await s.dispose(); }
}

export function registerControlStoreContract(name: string, backend: ContractBackend): void {
  test(`${name}: silences put/get/replace, listed by endsAt window newest first`, () => withStores(backend, async ({ store, peer }) => {
    assert.equal(await store.getSilence('nope'), null);
    const a = silenceOf('a', { createdAtMs: 100, endsAtMs: 5_000, matchers: [{ name: 'label.team', op: '=~', value: 'ops|dev' }] });
    const b = silenceOf('b', { createdAtMs: 300, endsAtMs: 1_500 });
    const c = silenceOf('c', { createdAtMs: 200, endsAtMs: 9_000, expiredBy: 'bob' });
    for (const s of [a, b, c]) await store.putSilence(s);
    assert.deepEqual(await peer.getSilence('a'), a);
    assert.deepEqual(await store.getSilence('c'), c, 'optional fields round-trip');

    assert.deepEqual((await store.listSilences(0)).map((s) => s.id), ['b', 'c', 'a'], 'newest createdAt first');
    assert.deepEqual((await store.listSilences(1_500)).map((s) => s.id), ['c', 'a'], 'endsAt must be after sinceMs (strictly)');
    assert.deepEqual((await store.listSilences(1_499)).map((s) => s.id), ['b', 'c', 'a']);
    assert.deepEqual(await store.listSilences(9_000), []);

    // Replace by id: expiring a silence moves endsAt, and the window follows the new value.
    const expired = { ...a, endsAtMs: 1_200, expiredBy: 'carol', updatedAtMs: 1_200 };
    await store.putSilence(expired);
    assert.deepEqual(await peer.getSilence('a'), expired);
    assert.deepEqual((await store.listSilences(1_300)).map((s) => s.id), ['b', 'c']);
    assert.equal((await store.listSilences(0)).length, 3, 'replaced, not added');
  }));

  test(`${name}: acknowledge: the first ack wins, also when two race; getAcks returns the ids that have one`, () => withStores(backend, async ({ store, peer }) => {
    const now = Date.now();
    const first: Acknowledgement = { alertId: 'al-1', by: 'alice', atMs: now, comment: 'on it' };
    assert.deepEqual(await store.acknowledge(first), first);
    assert.deepEqual(await peer.acknowledge({ alertId: 'al-1', by: 'bob', atMs: now + 5, comment: 'me too' }), first, 'the existing ack is returned');

    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      const mine: Acknowledgement = { alertId: id, by: 'alice', atMs: now + round, comment: 'a' };
      const theirs: Acknowledgement = { alertId: id, by: 'bob', atMs: now + round + 1, comment: 'b' };
      const [x, y] = await Promise.all([store.acknowledge(mine), peer.acknowledge(theirs)]);
      assert.deepEqual(x, y, 'both callers see the same ack in force');
      const winners = [mine, theirs].filter((m) => m.by === x.by && m.atMs === x.atMs);
      assert.equal(winners.length, 1, 'exactly one of the two won');
      assert.deepEqual((await store.getAcks([id])).get(id), x);
    }

    const got = await peer.getAcks(['al-1', 'missing', 'race-0', 'al-1']);
    assert.deepEqual([...got.keys()].sort(), ['al-1', 'race-0']);
    assert.deepEqual(got.get('al-1'), first);
    assert.equal((await store.getAcks([])).size, 0);

    // Acks past 30 days are pruned on a later acknowledge.
    await store.acknowledge({ alertId: 'ancient', by: 'alice', atMs: now - 31 * DAY, comment: '' });
    await store.acknowledge({ alertId: 'fresh', by: 'alice', atMs: now, comment: '' });
    assert.deepEqual([...(await store.getAcks(['ancient', 'fresh'])).keys()], ['fresh']);
  }));

  test(`${name}: audit: appended, newest (last appended) first, every filter and the limit`, () => withStores(backend, async ({ store, peer }) => {
    const T = Date.now() - 10 * 60_000;
    const events: AuditEvent[] = [
      auditOf('e1', T, { action: 'silence.create', actor: 'alice' }),
      auditOf('e2', T + 1_000, { action: 'silence.expire', actor: 'bob' }),
      auditOf('e3', T + 2_000, { action: 'alert.ack', actor: 'alice', outcome: 'refused', details: { reason: 'already acknowledged by bob' } }),
      auditOf('e4', T + 3_000, { action: 'autoheal.restart', actor: 'autoheal', target: 'h1/web', outcome: 'failed' }),
      auditOf('e5', T + 4_000, { action: 'autoheal.gave_up', actor: 'autoheal', target: 'h1/web' }),
      auditOf('e6', T + 5_000, { action: 'silence.create', actor: 'cli:root', details: {} }),
      // Same instant as e6: the later append lists first.
      auditOf('e7', T + 5_000, { action: 'silence_create', actor: 'alice' }),
      // Appended last with an older time (e.g. an outcome recorded late): listed first, found by its time.
      auditOf('e8', T + 2_500, { action: 'alert.ack', actor: 'bob' }),
    ];
    for (const e of events) await (e.id === 'e4' ? peer : store).appendAudit(e);
    const ids = (xs: AuditEvent[]): string[] => xs.map((e) => e.id);

    const all = await store.listAudit({ limit: 100 });
    assert.deepEqual(ids(all), ['e8', 'e7', 'e6', 'e5', 'e4', 'e3', 'e2', 'e1']);
    assert.deepEqual(all.find((e) => e.id === 'e3'), events[2], 'every field round-trips');
    assert.deepEqual(all.find((e) => e.id === 'e6')!.details, {});
    assert.deepEqual(ids(await peer.listAudit({ limit: 3 })), ['e8', 'e7', 'e6'], 'limit keeps the newest');
    assert.deepEqual(await store.listAudit({ limit: 0 }), []);

    assert.deepEqual(ids(await store.listAudit({ fromMs: T + 2_000, limit: 100 })), ['e8', 'e7', 'e6', 'e5', 'e4', 'e3'], 'fromMs inclusive');
    assert.deepEqual(ids(await store.listAudit({ toMs: T + 2_000, limit: 100 })), ['e3', 'e2', 'e1'], 'toMs inclusive');
    assert.deepEqual(ids(await store.listAudit({ fromMs: T + 1_000, toMs: T + 3_000, limit: 100 })), ['e8', 'e4', 'e3', 'e2']);
    assert.deepEqual(ids(await store.listAudit({ fromMs: T + 1_000, toMs: T + 3_000, limit: 2 })), ['e8', 'e4']);
    assert.deepEqual(ids(await store.listAudit({ fromMs: T + 2_600, toMs: T + 2_900, limit: 100 })), []);
    assert.deepEqual(ids(await store.listAudit({ fromMs: T + 10_000, limit: 100 })), []);

    assert.deepEqual(ids(await store.listAudit({ action: 'autoheal.', limit: 100 })), ['e5', 'e4'], 'action is a prefix');
    assert.deepEqual(ids(await store.listAudit({ action: 'silence.', limit: 100 })), ['e6', 'e2', 'e1'], 'prefix is literal: "." matches only "."');
    assert.deepEqual(ids(await store.listAudit({ action: 'silence_', limit: 100 })), ['e7'], 'nor is "_" a wildcard');
    assert.deepEqual(ids(await store.listAudit({ action: 'silence.create', limit: 100 })), ['e6', 'e1']);
    assert.deepEqual(ids(await store.listAudit({ action: 'SILENCE.', limit: 100 })), [], 'prefix is case-sensitive');

    assert.deepEqual(ids(await store.listAudit({ actor: 'alice', limit: 100 })), ['e7', 'e3', 'e1'], 'actor is exact');
    assert.deepEqual(ids(await store.listAudit({ actor: 'bob', limit: 100 })), ['e8', 'e2']);
    assert.deepEqual(ids(await store.listAudit({ actor: 'ali', limit: 100 })), []);
    assert.deepEqual(ids(await store.listAudit({ actor: 'alice', action: 'silence.', fromMs: T + 1, limit: 100 })), []);
    assert.deepEqual(ids(await store.listAudit({ actor: 'alice', action: 'silence', toMs: T + 4_999, limit: 1 })), ['e1'], 'filters combine before the limit');
  }));

  test(`${name}: audit: a limit past many non-matching events still finds older matches`, () => withStores(backend, async ({ store }) => {
    const T = Date.now() - 10 * 60_000;
    await store.appendAudit(auditOf('old-match', T, { action: 'rules.replace' }));
    for (let i = 0; i < 1_100; i++) await store.appendAudit(auditOf(`noise-${i}`, T + 1 + i, { action: 'alert.ack' }));
    assert.deepEqual((await store.listAudit({ action: 'rules.', limit: 10 })).map((e) => e.id), ['old-match']);
    assert.equal((await store.listAudit({ limit: 1_101 })).length, 1_101);
    assert.equal((await store.listAudit({ limit: 5_000 })).length, 1_101);
  }));

  test(`${name}: autoheal attempts: insert, replace by commandId, host times, old ones pruned; gave-up set and clear`, () => withStores(backend, async ({ store, peer }) => {
    const now = Date.now();
    const web = { host: 'h1', containerId: 'c-web' };
    const db = { host: 'h1', containerId: 'c-db' };
    const other = { host: 'h2', containerId: 'c-web' };
    assert.deepEqual(await store.autohealAttempts(web), []);
    assert.deepEqual(await store.hostAutohealTimes('h1', 0), []);

    await store.putAutohealAttempt(web, attemptOf('k2', now - 2_000));
    await store.putAutohealAttempt(web, attemptOf('k1', now - 5_000, { trigger: 'oom' }));
    await peer.putAutohealAttempt(db, attemptOf('k3', now - 1_000, { trigger: 'exited' }));
    await store.putAutohealAttempt(other, attemptOf('k4', now - 3_000));
    assert.deepEqual((await store.autohealAttempts(web)).map((a) => a.commandId), ['k1', 'k2'], 'oldest first');

    // The outcome arrives later under the same commandId.
    const done = attemptOf('k2', now - 2_000, { outcome: 'failed', error: 'no such container' });
    await peer.putAutohealAttempt(web, done);
    const got = await store.autohealAttempts(web);
    assert.equal(got.length, 2, 'replaced, not added');
    assert.deepEqual(got[1], done);

    assert.deepEqual(await store.hostAutohealTimes('h1', 0), [now - 5_000, now - 2_000, now - 1_000], 'every container of the host');
    assert.deepEqual(await store.hostAutohealTimes('h1', now - 2_000), [now - 2_000, now - 1_000], 'sinceMs inclusive');
    assert.deepEqual(await store.hostAutohealTimes('h2', 0), [now - 3_000]);
    assert.deepEqual(await store.autohealAttempts(other), [attemptOf('k4', now - 3_000)], 'containers are keyed by host too');

    // Attempts older than a day go on a later write.
    await store.putAutohealAttempt(web, attemptOf('k0', now - DAY - HOUR));
    await store.putAutohealAttempt(web, attemptOf('k5', now));
    assert.deepEqual((await store.autohealAttempts(web)).map((a) => a.commandId), ['k1', 'k2', 'k5']);
    assert.deepEqual(await store.hostAutohealTimes('h1', 0), [now - 5_000, now - 2_000, now - 1_000, now]);

    assert.equal(await store.getGaveUp(web), null);
    await store.setGaveUp(web, now - 10);
    assert.equal(await peer.getGaveUp(web), now - 10);
    assert.equal(await store.getGaveUp(db), null, 'per container');
    assert.equal(await store.getGaveUp(other), null, 'per host');
    await peer.setGaveUp(web, now);
    assert.equal(await store.getGaveUp(web), now);
    await store.setGaveUp(web, null);
    assert.equal(await peer.getGaveUp(web), null);
    await store.setGaveUp(web, null);
    assert.equal(await store.getGaveUp(web), null, 'clearing twice is fine');
  }));

  test(`${name}: kv: get/set/overwrite`, () => withStores(backend, async ({ store, peer }) => {
    assert.equal(await store.getValue('users-snapshot'), null);
    await store.setValue('users-snapshot', '{"alice":"admin"}');
    assert.equal(await peer.getValue('users-snapshot'), '{"alice":"admin"}');
    await peer.setValue('users-snapshot', '');
    assert.equal(await store.getValue('users-snapshot'), '', 'an empty value is a value');
    await store.setValue('other', 'x\ny ✓');
    assert.equal(await store.getValue('other'), 'x\ny ✓');
  }));

  test(`${name}: a closed store refuses calls with UNAVAILABLE`, async () => {
    const s = await backend();
    await s.store.close();
    await s.store.close();
    await assert.rejects(s.store.getValue('k'), { name: 'AppError', code: 'UNAVAILABLE' });
    await s.dispose();
  });
}
