import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { historyRoutes } from '../../src/infrastructure/http/routes/history.js';
import { createSqliteStore } from '../../src/infrastructure/sqlite/store.js';
import { isAppError } from '../../src/application/errors.js';
import { aggregate, CONTAINER_METRICS, containerValues } from '../../src/domain/rollup.js';
import { containerIds, makeBatch } from '../helpers/storage-batches.js';
import { eventFixture } from '../helpers/store-events-contract.js';
import { pino } from 'pino';
import { buildApp } from '../../src/infrastructure/http/app.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';

test('history routes: series per step from a real embedded store, 400s naming the parameter', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-routes-'));
  const NOW = Date.parse('2026-11-22T05:00:00Z');
  const store = createSqliteStore({ dataDir: dir, now: () => NOW, compactEveryMs: 0 });
  const ids = containerIds('rt', 2);
  const batches = Array.from({ length: 120 }, (_, i) => makeBatch('agent-r', 'host-r', ids, NOW - 600_000 + i * 5000, i));
  for (const b of batches) await store.writeBatch(b);

  const app = Fastify();
  // The lead's app maps AppError once; this is the same mapping in small.
  app.setErrorHandler((err, _req, reply) => {
    if (isAppError(err) && err.code === 'INVALID_ARGUMENT') {
      return reply.code(400).send({ error: err.code, message: err.message, field: err.field });
    }
    return reply.code(500).send({ error: 'INTERNAL' });
  });
  const roles: string[] = [];
  app.addHook('onRoute', (r) => { if (r.method === 'GET') roles.push(`${r.url} ${(r.config as { role?: string } | undefined)?.role}`); });
  await app.register(historyRoutes, { store, now: () => NOW });
  try {
    const ok = await app.inject({ url: `/api/metrics?container_id=${ids[1]}&from=-10m&to=now&step=1m` });
    assert.equal(ok.statusCode, 200);
    const body = ok.json();
    assert.equal(body.step_ms, 60_000);
    assert.deepEqual(body.fields, CONTAINER_METRICS.map((m) => m.column));
    const want = aggregate(batches.map((b) => ({ timestampMs: b.timestampMs, values: containerValues(b.containers[1]!) })), 60_000, CONTAINER_METRICS);
    assert.equal(body.points.length, want.length);
    body.points.forEach((p: Record<string, number>, k: number) => {
      assert.equal(p.ts, want[k]!.timestampMs);
      assert.ok(Math.abs(p.cpu_percent! - want[k]!.values.cpuPercent!) < 1e-9);
      assert.equal(p.net_rx_bytes, want[k]!.values.netRxBytes);
    });

    const auto = await app.inject({ url: `/api/metrics?container_id=${ids[0]}&from=${new Date(NOW - 86_400_000).toISOString()}&step=auto` });
    assert.equal(auto.statusCode, 200);
    assert.equal(auto.json().step_ms, 120_000);

    const host = await app.inject({ url: '/api/hosts/host-r/metrics?from=-10m&step=5m' });
    assert.equal(host.statusCode, 200);
    assert.ok(host.json().points.length >= 2);
    assert.equal(typeof host.json().points[0].load1, 'number');

    const bad: Array<[string, string]> = [
      [`/api/metrics?container_id=${ids[0]}&from=yesterday`, 'from'],
      [`/api/metrics?container_id=${ids[0]}&to=soon`, 'to'],
      [`/api/metrics?container_id=${ids[0]}&from=-1h&to=-2h`, 'from'],
      [`/api/metrics?container_id=${ids[0]}&from=-7d&step=1s`, 'step'],
      [`/api/metrics?container_id=${ids[0]}&step=fast`, 'step'],
      ['/api/metrics?container_id=unknown', 'container_id'],
      ['/api/metrics', 'container_id'],
      ['/api/hosts/nohost/metrics', 'id'],
    ];
    for (const [url, field] of bad) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.json().field, field, url);
      assert.match(r.json().message, new RegExp(field), url);
    }
    assert.deepEqual(roles, ['/api/metrics viewer', '/api/hosts/:id/metrics viewer', '/api/containers/:id/events viewer', '/api/hosts/:id/events viewer']);
  } finally {
    await app.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('event routes: stored lifecycle events of a container or a host, on the real app; bad input -> 400 naming the field', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-event-routes-'));
  const T0 = Date.parse('2026-11-22T04:00:00Z');
  const NOW = T0 + 3_600_000;
  const store = createSqliteStore({ dataDir: dir, now: () => NOW, compactEveryMs: 0 });
  const f = eventFixture('rt', T0);
  for (const b of [...f.batches, ...f.resends]) await store.writeBatch(b);
  const app = await buildApp({
    logger: pino({ level: 'silent' }), latest: createMemoryLatestStore(), bus: createMemoryBus(),
    health: () => ({ status: 'ok', components: {} }), webDir: path.resolve('web'),
    chartJsFile: path.resolve('node_modules/chart.js/dist/chart.umd.js'), compileFilter: () => () => true,
    plugins: [async (a) => historyRoutes(a, { store, now: () => NOW })],
  });
  try {
    const range = `from=${T0}&to=${new Date(T0 + 10_000).toISOString()}`;
    const web = await app.inject({ url: `/api/containers/${f.ids.web}/events?${range}` });
    assert.equal(web.statusCode, 200);
    assert.deepEqual(web.json().events.map((e: { action: string; exit_code: number }) => `${e.action}:${e.exit_code}`),
      ['start:0', 'oom:0', 'die:137', 'start:0', 'restart:0']);
    assert.deepEqual(Object.keys(web.json().events[0]).sort(), ['action', 'container_id', 'container_name', 'exit_code', 'health', 'host', 'ts']);
    assert.equal(web.json().events[0].ts, T0 + 100);
    assert.equal(web.json().events[0].container_name, 'web "a", b=c');
    assert.equal(web.json().truncated, false);
    const some = await app.inject({ url: `/api/containers/${f.ids.web}/events?${range}&action=oom,restart&limit=1` });
    assert.deepEqual(some.json().events.map((e: { action: string }) => e.action), ['oom']);
    assert.equal(some.json().truncated, true, 'more in the range than the limit');
    // Default range: the hour before now (the fixture's events are at its start).
    assert.equal((await app.inject({ url: `/api/containers/${f.ids.web}/events` })).json().events.length, 5);
    const host = await app.inject({ url: `/api/hosts/${f.agentId}/events?${range}&action=die` });
    assert.deepEqual(host.json().events.map((e: { container_id: string }) => e.container_id), [f.ids.web, f.ids.db]);

    const bad: Array<[string, string]> = [
      [`/api/containers/${f.ids.web}/events?from=yesterday`, 'from'],
      [`/api/containers/${f.ids.web}/events?to=soon`, 'to'],
      [`/api/containers/${f.ids.web}/events?from=-1h&to=-2h`, 'from'],
      [`/api/containers/${f.ids.web}/events?action=OOM;drop`, 'action'],
      [`/api/containers/${f.ids.web}/events?limit=0`, 'limit'],
      [`/api/containers/${f.ids.web}/events?limit=many`, 'limit'],
      ['/api/containers/nope/events', 'id'],
      ['/api/hosts/nohost/events', 'id'],
    ];
    for (const [url, field] of bad) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.json().field, field, url);
      assert.match(r.json().message, new RegExp(field), url);
    }
  } finally {
    await app.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
