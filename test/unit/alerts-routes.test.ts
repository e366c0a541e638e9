import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { createAlertEngine } from '../../src/application/alerting.js';
import type { AlertQuery, StoredAlert } from '../../src/application/alert-ports.js';
import { isAppError } from '../../src/application/errors.js';
import { defaultRules } from '../../src/domain/alerts/rules.js';
import { alertRoutes } from '../../src/infrastructure/http/routes/alerts.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { memoryLog } from '../helpers/silent-log.js';

async function app() {
  const rows: StoredAlert[] = [1000, 2000, 3000].map((t, i) => ({
    id: `a${i}`, ruleId: 'cpu', severity: 'warning', state: i === 1 ? 'resolved' : 'firing', host: 'h', containerId: 'c',
    containerName: 'web', value: 1, threshold: 1, message: 'm', timestampMs: t,
  }));
  const queries: AlertQuery[] = [];
  const history = {
    async writeAlertEvent() {},
    async queryAlerts(q: AlertQuery) { queries.push(q); return rows.filter((r) => r.timestampMs >= q.fromMs && r.timestampMs <= q.toMs && (!q.state || q.state === r.state)); },
  };
  const engine = createAlertEngine({ rules: defaultRules(), defaults: {}, cooldown: createLocalCooldown(), history, log: memoryLog(),
    now: () => 0, publisher: { publish: async () => {} } });
  const a = Fastify();
  const roles: Record<string, unknown> = {};
  a.addHook('onRoute', (r) => { roles[`${r.method} ${r.url}`] = (r.config as { role?: string } | undefined)?.role; });
  // A stand-in for the lead's error handler: AppError INVALID_ARGUMENT -> 400 with the reason.
  a.setErrorHandler((err, _req, reply) => {
    if (isAppError(err)) return reply.status(err.code === 'INVALID_ARGUMENT' ? 400 : 500).send({ error: err.code, message: err.message, field: err.field });
    return reply.status((err as { statusCode?: number }).statusCode ?? 500).send({ message: (err as Error).message });
  });
  await a.register(alertRoutes, { rules: engine, history, now: () => 5000 });
  await a.ready();
  return { a, queries, roles, engine };
}

test('GET/PUT /api/alert-rules: roles, round trip, bad body -> 400 and the rules stay', async () => {
  const { a, roles, engine } = await app();
  assert.equal(roles['GET /api/alert-rules'], 'viewer');
  assert.equal(roles['PUT /api/alert-rules'], 'admin');
  assert.equal(roles['GET /api/alerts'], 'viewer');
  const get = await a.inject({ method: 'GET', url: '/api/alert-rules' });
  assert.equal(get.statusCode, 200);
  assert.equal(get.json().rules.find((r: { id: string }) => r.id === 'cpu').threshold, 90);

  const bad = await a.inject({ method: 'PUT', url: '/api/alert-rules', payload: { rules: [{ id: 'cpu', for: 'whenever' }] } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().field, 'rules.0.for');
  assert.match(bad.json().message, /not a duration/);
  assert.equal(engine.ruleSet().rules.find((r) => r.id === 'cpu')!.forMs, 60_000);

  const put = await a.inject({ method: 'PUT', url: '/api/alert-rules', payload: { ...(get.json() as object), overrides: [{ match: 'db-*', cpu_threshold: 40 }] } });
  assert.equal(put.statusCode, 200);
  assert.deepEqual(put.json().overrides, [{ match: 'db-*', cpu_threshold: 40 }]);
  assert.deepEqual((await a.inject({ method: 'GET', url: '/api/alert-rules' })).json(), put.json());
  await a.close();
});

test('GET /api/alerts filters by state and time; bad parameters are 400', async () => {
  const { a, queries } = await app();
  const all = await a.inject({ method: 'GET', url: '/api/alerts' });
  assert.equal(all.statusCode, 200);
  assert.deepEqual(all.json().alerts.map((x: StoredAlert) => x.id), ['a0', 'a1', 'a2']);
  assert.deepEqual([queries[0]!.fromMs, queries[0]!.toMs], [5000 - 86_400_000, 5000]);
  const f = await a.inject({ method: 'GET', url: '/api/alerts?state=firing&from=1500&to=1970-01-01T00:00:03.000Z' });
  assert.deepEqual(f.json().alerts.map((x: StoredAlert) => x.id), ['a2']);
  assert.equal((await a.inject({ method: 'GET', url: '/api/alerts?state=open' })).statusCode, 400);
  assert.equal((await a.inject({ method: 'GET', url: '/api/alerts?from=yesterday' })).statusCode, 400);
  assert.equal((await a.inject({ method: 'GET', url: '/api/alerts?from=3000&to=1000' })).statusCode, 400);
  await a.close();
});
