// The control routes on the real buildApp (its error handler), real auth, a real createControl()
// and a real alert engine, over an in-memory ControlStore.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { type ControlApp, buildControlApp } from '../helpers/control-app.js';
import { assertAllRoutesProtected, makeTestTokens } from '../helpers/route-protection.js';

let c: ControlApp;
let admin: string;
let viewer: string;

before(async () => {
  c = await buildControlApp();
  await c.app.ready();
  admin = c.token('alice', 'admin');
  viewer = c.token('vera', 'viewer');
});
after(async () => { await c?.close(); });

const call = (method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH', url: string, token: string | undefined, payload?: unknown): Promise<LightMyRequestResponse> =>
  c.app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload === undefined ? {} : { payload: payload as object }) });

const HOUR = 3_600_000;
const good = (over: Record<string, unknown> = {}) => ({
  matchers: [{ name: 'alertname', op: '=', value: 'stopped' }, { name: 'container', value: 'web-*' }], duration: '2h', comment: 'deploy', ...over,
});

test('every control route is guarded with its declared role', async () => {
  const tokens = makeTestTokens('control-routes-secret-'.padEnd(48, 'c'));
  const { checked } = await assertAllRoutesProtected(c.app, tokens, {
    allowOpen: ['/health', '/api/auth/login', '/vendor/chart.umd.js', '/*', '/'],
  });
  const roles = Object.fromEntries(checked.map((r) => [`${r.method} ${r.url}`, r.role]));
  assert.deepEqual({
    list: roles['GET /api/silences'], create: roles['POST /api/silences'], expire: roles['DELETE /api/silences/:id'],
    active: roles['GET /api/alerts/active'], ack: roles['POST /api/alerts/:id/ack'], audit: roles['GET /api/audit'],
  }, { list: 'viewer', create: 'admin', expire: 'admin', active: 'viewer', ack: 'admin', audit: 'admin' });
});

test('POST /api/silences: 400 names the field, and nothing is stored', async () => {
  const before = c.store.silences.size;
  const cases: [string, unknown, string, RegExp][] = [
    ['until before from', good({ duration: undefined, starts_at: '+2h', ends_at: '+1h' }), 'ends_at', /after starts_at/],
    ['unknown rule id', good({ matchers: [{ name: 'alertname', op: '=', value: 'no_such_rule' }] }), 'matchers.0.value', /unknown rule id "no_such_rule"/],
    ['matches everything', good({ matchers: [{ name: 'container', op: '=~', value: '.*' }] }), 'matchers', /every alert.*force/],
    ['bad regex', good({ matchers: [{ name: 'container', op: '=~', value: 'web-(' }] }), 'matchers.0.value', /bad regular expression/],
    ['missing comment', good({ comment: undefined }), 'comment', /comment/],
    ['blank comment', good({ comment: '   ' }), 'comment', /comment is required/],
    ['unknown matcher name', good({ matchers: [{ name: 'pod', value: 'x' }] }), 'matchers.0.name', /unknown matcher name/],
    ['bad time', good({ duration: undefined, ends_at: 'tomorrow-ish' }), 'ends_at', /not a time/],
    ['no matchers', good({ matchers: [] }), 'matchers', /fewer than 1/],
    // The app's validation handler names the object for an extra key, not the key.
    ['unknown property', good({ colour: 'red' }), 'body', /must NOT have additional properties/],
  ];
  for (const [what, body, field, message] of cases) {
    const r = await call('POST', '/api/silences', admin, body);
    assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
    assert.equal(r.json().error, 'INVALID_ARGUMENT', what);
    assert.equal(r.json().field, field, `${what}: ${r.body}`);
    assert.match(r.json().message, message, what);
  }
  assert.equal(c.store.silences.size, before, 'nothing stored after a 400');
  assert.equal(c.store.auditLog.filter((e) => e.action === 'silence.create').length, 0, 'nor audited');

  // With force the catch-all is accepted.
  const forced = await call('POST', '/api/silences', admin, good({ matchers: [{ name: 'container', op: '=~', value: '.*' }], force: true, duration: '1m' }));
  assert.equal(forced.statusCode, 201, forced.body);
  assert.equal((await call('DELETE', `/api/silences/${forced.json().id}`, admin)).statusCode, 200);
});

test('silences: create (201), list by state, expire (200, then 409), unknown id 404; viewers only read', async () => {
  const r = await call('POST', '/api/silences', admin, good());
  assert.equal(r.statusCode, 201, r.body);
  const s = r.json();
  assert.equal(s.status, 'active');
  assert.equal(s.createdBy, 'alice');
  assert.equal(s.endsAtMs - s.startsAtMs, 2 * HOUR);
  assert.deepEqual(s.matchers, [{ name: 'alertname', op: '=', value: 'stopped' }, { name: 'container', op: '=', value: 'web-*' }]);
  const pending = (await call('POST', '/api/silences', admin, good({ starts_at: '+1h', duration: '1h', comment: 'later' }))).json();
  assert.equal(pending.status, 'pending');

  const ids = async (q: string, token = viewer) => (await call('GET', `/api/silences${q}`, token)).json().silences.map((x: { id: string }) => x.id);
  assert.ok((await ids('')).includes(s.id));
  assert.ok((await ids('?state=active')).includes(s.id));
  assert.ok(!(await ids('?state=active')).includes(pending.id));
  assert.deepEqual(await ids('?state=pending'), [pending.id]);
  assert.equal((await call('GET', '/api/silences?state=soon', viewer)).statusCode, 400);

  assert.equal((await call('POST', '/api/silences', viewer, good())).statusCode, 403);
  assert.equal((await call('DELETE', `/api/silences/${s.id}`, viewer)).statusCode, 403);
  const expired = await call('DELETE', `/api/silences/${s.id}`, admin);
  assert.equal(expired.statusCode, 200, expired.body);
  assert.equal(expired.json().status, 'expired');
  assert.equal(expired.json().expiredBy, 'alice');
  assert.ok((await ids('?state=expired')).includes(s.id));
  const again = await call('DELETE', `/api/silences/${s.id}`, admin);
  assert.equal(again.statusCode, 409);
  assert.match(again.json().message, /already expired/);
  const unknown = await call('DELETE', '/api/silences/does-not-exist', admin);
  assert.equal(unknown.statusCode, 404);
  assert.equal((await call('DELETE', `/api/silences/${pending.id}`, admin)).statusCode, 200);
});

test('GET /api/alerts/active: firing alerts with silenced_by and acknowledged; POST ack: 404 when not firing, first ack wins', async () => {
  const fired = await c.fire('web-1', { team: 'ops' });
  const other = await c.fire('db-1');
  const active = async () => (await call('GET', '/api/alerts/active', viewer)).json().alerts as
    { id: string; containerName: string; silenced_by: string[]; acknowledged: null | { by: string; at: string; comment: string } }[];
  let list = await active();
  const find = (id: string) => list.find((a) => a.id === id)!;
  assert.deepEqual(find(fired.id).silenced_by, []);
  assert.equal(find(fired.id).acknowledged, null);

  const sil = (await call('POST', '/api/silences', admin, good({ matchers: [{ name: 'label.team', value: 'ops' }] }))).json();
  list = await active();
  assert.deepEqual(find(fired.id).silenced_by, [sil.id]);
  assert.deepEqual(find(other.id).silenced_by, []);

  const url = (id: string) => `/api/alerts/${encodeURIComponent(id)}/ack`;
  assert.equal((await call('POST', url(fired.id), viewer, {})).statusCode, 403);
  const notFiring = await call('POST', url('stopped|host-a|gone|1|firing'), admin, {});
  assert.equal(notFiring.statusCode, 404);
  assert.equal(notFiring.json().message, 'alert stopped|host-a|gone|1|firing is not firing');
  const disk = await call('POST', url('host_disk|host-a|disk:/var/lib|1|firing'), admin, {});
  assert.equal(disk.json().message, 'alert host_disk|host-a|disk:/var/lib|1|firing is not firing', 'ids with a slash reach the route whole');
  const resolvedId = fired.id.replace(/\|firing$/, '|resolved');
  assert.equal((await call('POST', url(resolvedId), admin, {})).statusCode, 404);

  const ack = await call('POST', url(fired.id), admin, { comment: 'looking at it' });
  assert.equal(ack.statusCode, 200, ack.body);
  assert.equal(ack.json().alert_id, fired.id);
  assert.equal(ack.json().by, 'alice');
  assert.ok(!Number.isNaN(Date.parse(ack.json().at)));
  const second = await call('POST', url(fired.id), c.token('bob', 'admin'), { comment: 'me too' });
  assert.equal(second.json().by, 'alice', 'the first acknowledgement stays');
  const noBody = await call('POST', url(other.id), admin);
  assert.equal(noBody.statusCode, 200, `ack without a body: ${noBody.body}`);
  assert.equal(noBody.json().comment, '');
  list = await active();
  assert.deepEqual(find(fired.id).acknowledged, { by: 'alice', at: ack.json().at, comment: 'looking at it' });
  assert.equal((await call('POST', url(fired.id), admin, { comment: 'x'.repeat(2001) })).statusCode, 400);
  await call('DELETE', `/api/silences/${sil.id}`, admin);
});

test('PUT /api/alert-rules is audited (ok and refused); GET /api/audit lists events by the JWT user, filters; no route edits the trail', async () => {
  const rules = (await call('GET', '/api/alert-rules', viewer)).json();
  const ok = await call('PUT', '/api/alert-rules', c.token('carol', 'admin'), { ...rules, overrides: [{ match: 'db-*', cpu_threshold: 40 }] });
  assert.equal(ok.statusCode, 200, ok.body);
  const bad = await call('PUT', '/api/alert-rules', c.token('carol', 'admin'), { rules: [{ id: 'cpu', for: 'whenever' }] });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().field, 'rules.0.for', 'the 400 reaches the client unchanged');

  assert.equal((await call('GET', '/api/audit', viewer)).statusCode, 403);
  const all = await call('GET', '/api/audit?limit=1000', admin);
  assert.equal(all.statusCode, 200, all.body);
  const events = all.json().events as { actor: string; action: string; target: string; outcome: string; details: Record<string, unknown>; atMs: number }[];
  const actions = new Set(events.map((e) => `${e.action} ${e.actor} ${e.outcome}`));
  for (const want of ['silence.create alice ok', 'silence.expire alice ok', 'alert.ack alice ok', 'alert.ack bob refused',
    'rules.replace carol ok', 'rules.replace carol refused']) assert.ok(actions.has(want), `${want} in ${[...actions].join(', ')}`);
  const replaced = events.filter((e) => e.action === 'rules.replace' && e.actor === 'carol');
  assert.deepEqual(replaced.map((e) => [e.outcome, e.target]), [['refused', 'alert-rules'], ['ok', 'alert-rules']], 'newest first');
  assert.deepEqual(replaced[1]!.details, { rules: rules.rules.length, overrides: 1 });
  assert.match(String(replaced[0]!.details['error']), /not a duration/);
  assert.ok(events.every((e, i) => i === 0 || events[i - 1]!.atMs >= e.atMs));

  const only = (await call('GET', '/api/audit?action=silence.&actor=alice', admin)).json().events as typeof events;
  assert.ok(only.length >= 2 && only.every((e) => e.action.startsWith('silence.') && e.actor === 'alice'));
  assert.equal((await call('GET', '/api/audit?limit=2', admin)).json().events.length, 2);
  const t = events[events.length - 1]!.atMs;
  assert.ok((await call('GET', `/api/audit?from=${t}&to=${new Date(t).toISOString()}`, admin)).json().events.length >= 1);
  assert.equal((await call('GET', `/api/audit?from=${new Date(Date.now() + HOUR).toISOString()}`, admin)).json().events.length, 0);
  assert.equal((await call('GET', '/api/audit?from=yesterday', admin)).statusCode, 400);
  assert.equal((await call('GET', '/api/audit?from=2000&to=1000', admin)).statusCode, 400);
  assert.equal((await call('GET', '/api/audit?limit=0', admin)).statusCode, 400);

  const id = (events[0] as unknown as { id: string }).id;
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
    for (const path of ['/api/audit', `/api/audit/${id}`]) {
      const r = await call(method, path, admin, method === 'DELETE' ? undefined : {});
      assert.ok([404, 405].includes(r.statusCode), `${method} ${path}: ${r.statusCode}`);
    }
  }
  assert.equal((await call('GET', '/api/audit?limit=1000', admin)).json().events.length, events.length, 'the trail is unchanged');
});
