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
    assert.deepEqual(roles, ['/api/metrics viewer', '/api/hosts/:id/metrics viewer']);
  } finally {
    await app.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
