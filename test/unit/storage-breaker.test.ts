import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { withBreaker, type BreakerState } from '../../src/infrastructure/resilience/breaker.js';
import { retry, retryDelay } from '../../src/infrastructure/resilience/retry.js';
import { AppError } from '../../src/application/errors.js';

/** A loopback port with nothing listening: connections are refused for real. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function call(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ping`, { signal: AbortSignal.timeout(2000) });
    return res.status;
  } catch (err) {
    throw new AppError('UNAVAILABLE', `ping: ${(err as Error).message}`);
  }
}

test('breaker: opens after 5 consecutive real failures, half-opens after resetTimeout, closes on success', async () => {
  const port = await closedPort();
  const states: BreakerState[] = [];
  const logged: string[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => { logged.push(String(m)); }, child() { return log; } };
  const b = withBreaker({ failureThreshold: 5, resetTimeoutMs: 300, timeoutMs: 5000, name: 't' }, log);
  b.onStateChange((s) => states.push(s));
  for (let i = 0; i < 4; i++) await assert.rejects(b.fire(() => call(port)), /ECONNREFUSED|fetch failed/);
  assert.equal(b.state(), 'closed', 'four failures are not enough');
  await assert.rejects(b.fire(() => call(port)));
  assert.equal(b.state(), 'open');
  // Open: fails fast without calling.
  let called = false;
  await assert.rejects(b.fire(async () => { called = true; return 1; }), /circuit open/);
  assert.equal(called, false);
  await new Promise((r) => setTimeout(r, 450));
  assert.equal(b.state(), 'halfOpen');
  // The probe fails for real: open again.
  await assert.rejects(b.fire(() => call(port)));
  assert.equal(b.state(), 'open');
  await new Promise((r) => setTimeout(r, 450));
  // Now a server listens on that port: the probe succeeds and the circuit closes.
  const srv = http.createServer((_q, s) => { s.statusCode = 204; s.end(); });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  try {
    assert.equal(await b.fire(() => call(port)), 204);
    assert.equal(b.state(), 'closed');
  } finally {
    await new Promise((r) => srv.close(r));
    b.shutdown();
  }
  assert.deepEqual(states, ['open', 'halfOpen', 'open', 'halfOpen', 'closed']);
  assert.equal(logged.filter((m) => m.includes('circuit breaker t')).length, 5, 'every change is logged');
});

test('breaker: bad input does not count as an outage', async () => {
  const b = withBreaker({ failureThreshold: 2, resetTimeoutMs: 10_000 });
  for (let i = 0; i < 5; i++) {
    await assert.rejects(b.fire(async () => { throw new AppError('INVALID_ARGUMENT', 'field type conflict'); }));
  }
  assert.equal(b.state(), 'closed');
  b.shutdown();
});

test('retry: transient errors only, exponential backoff, Retry-After wins', async () => {
  const waits: number[] = [];
  const sleep = async (ms: number): Promise<void> => { waits.push(ms); };
  let n = 0;
  const v = await retry(async () => {
    n++;
    if (n === 1) throw new AppError('UNAVAILABLE', 'down');
    if (n === 2) throw new AppError('RESOURCE_EXHAUSTED', '429', { retryAfterMs: 7000 });
    if (n === 3) throw new AppError('UNAVAILABLE', 'down');
    return 'ok';
  }, { sleep });
  assert.equal(v, 'ok');
  assert.deepEqual(waits, [1000, 7000, 4000]);

  n = 0;
  await assert.rejects(retry(async () => { n++; throw new AppError('UNAVAILABLE', 'down'); }, { sleep }), /down/);
  assert.equal(n, 4, 'first attempt plus 3 retries');
  n = 0;
  await assert.rejects(retry(async () => { n++; throw new AppError('INVALID_ARGUMENT', 'bad'); }, { sleep }), /bad/);
  assert.equal(n, 1, 'never retries bad input');
  n = 0;
  await assert.rejects(retry(async () => { n++; throw new Error('plain'); }, { sleep }), /plain/);
  assert.equal(n, 1, 'unknown errors are not retried blindly');
  assert.equal(retryDelay(3, new Error('x'), { initialDelayMs: 100, factor: 3 }), 900);
});
