import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { metricsRoutes, startMetricsListener } from '../../src/infrastructure/http/routes/metrics.js';
import { createMetricsExporter } from '../../src/infrastructure/prometheus/exporter.js';

test('GET /metrics on the app serves the exporter text with the Prometheus content type', async () => {
  const exp = createMetricsExporter({ processMetrics: false });
  exp.record.samples(17);
  const app = Fastify();
  await app.register(metricsRoutes, { render: exp.render, contentType: exp.contentType });
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(res.body, /^dockwatch_ingested_samples_total 17$/m);
  // Not JSON-encoded by the response serializer.
  assert.ok(!res.body.startsWith('"'));
  await app.close();
});

test('the METRICS_PORT listener serves /metrics only, and asks for the token when one is set', async () => {
  const exp = createMetricsExporter({ processMetrics: false });
  exp.record.batch('ack');
  const listener = await startMetricsListener(0, '127.0.0.1', exp.render, { token: 's3cret' });
  const base = `http://127.0.0.1:${listener.port}`;
  try {
    const noToken = await fetch(`${base}/metrics`);
    assert.equal(noToken.status, 401);
    const wrong = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^dockwatch_batches_total\{status="ack"\} 1$/m);
    assert.equal((await fetch(`${base}/api/containers`, { headers: { authorization: 'Bearer s3cret' } })).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST', headers: { authorization: 'Bearer s3cret' } })).status, 405);
  } finally {
    await listener.close();
  }
});

test('a failing render gives the scraper a 500 without details', async () => {
  const errors: unknown[] = [];
  const listener = await startMetricsListener(0, '127.0.0.1', async () => { throw new Error('store exploded: secret'); },
    { onError: (e) => errors.push(e) });
  try {
    const res = await fetch(`http://127.0.0.1:${listener.port}/metrics`);
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /secret/);
    assert.equal(errors.length, 1);
  } finally {
    await listener.close();
  }
});
