// The HTTP auth plugins on a real fastify instance: login, rate limit, role checks, helmet's
// CSP, /metrics behind METRICS_TOKEN, /ws close codes, and the protection test from the router.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { addUser } from '../../src/infrastructure/auth/users-file.js';
import { authPlugin, authenticateWebSocket, createAuthPlugin, redactTokenInUrl, wsCloseCode } from '../../src/infrastructure/http/auth/plugin.js';
import { createAuthRoutes } from '../../src/infrastructure/http/auth/routes.js';
import { createSecurityPlugin } from '../../src/infrastructure/http/auth/security.js';
import { assertAllRoutesProtected, makeTestTokens } from '../helpers/route-protection.js';

const SECRET = 'integration-secret-'.padEnd(48, 'x');

async function build(opts: { metricsToken?: string; rate?: number; extra?: (app: FastifyInstance) => void } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-authhttp-'));
  const usersFile = join(dataDir, 'users.json');
  await addUser(usersFile, 'vera', 'viewer', 'vera-password');
  const { auth } = await createAuth({
    jwtSecret: SECRET, jwtDurationMs: 3_600_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile, dataDir, production: false, agentToken: 'static-agent-token-1', metricsToken: opts.metricsToken,
  });
  let logged = '';
  const app = Fastify({
    logger: {
      level: 'info',
      stream: new Writable({ write(chunk, _enc, cb) { logged += chunk.toString(); cb(); } }),
      serializers: { req: (req) => ({ method: req.method, url: redactTokenInUrl(req.url) }) },
    },
  });
  // As buildApp does with HttpDeps.plugins: app.register(plugin) for each, after @fastify/websocket.
  await app.register(websocket);
  await app.register(createSecurityPlugin());
  await app.register(createAuthPlugin({ auth, metricsToken: opts.metricsToken }));
  await app.register(createAuthRoutes({ auth, loginRateLimit: opts.rate ?? 5 }));
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/metrics', { config: { role: 'public' } }, async () => 'dockwatch_up 1\n');
  app.get('/api/containers', async () => []);
  app.get('/api/hosts/:id/metrics', async (req) => ({ id: (req.params as { id: string }).id, points: [] }));
  app.post('/api/rules', { config: { role: 'admin' } }, async () => ({ ok: true }));
  app.post('/api/ingest', { config: { role: 'agent' } }, async () => ({ ok: true }));
  app.get('/ws', { websocket: true }, (socket, request) => {
    try {
      authenticateWebSocket(request);
    } catch (e) {
      socket.close(wsCloseCode(e), 'unauthorized');
      return;
    }
    socket.send(JSON.stringify({ type: 'hello', user: request.user?.sub }));
  });
  opts.extra?.(app);
  await app.ready();
  return { app, auth, logs: () => logged };
}

test('every registered route refuses no/forged/alg-none/expired tokens and the wrong role', async () => {
  const { app } = await build({ metricsToken: 'metrics-secret-token' });
  const { checked, open } = await assertAllRoutesProtected(app, makeTestTokens(SECRET), {
    metricsGuarded: true, allowOpen: ['/health', '/api/auth/login'],
  });
  assert.deepEqual(checked.map((r) => `${r.method} ${r.url}`).sort(), [
    'GET /api/auth/me', 'GET /api/containers', 'GET /api/hosts/:id/metrics', 'GET /metrics', 'GET /ws',
    'POST /api/ingest', 'POST /api/rules',
  ]);
  assert.deepEqual(open.map((r) => r.url).sort(), ['/api/auth/login', '/health']);
  await app.close();
});

test('the protection test fails for a route that opts out of auth without being allowed', async () => {
  const { app } = await build({ extra: (a) => a.get('/api/leak', { config: { role: 'public' } }, async () => ({ secret: 1 })) });
  await assert.rejects(assertAllRoutesProtected(app, makeTestTokens(SECRET), { allowOpen: ['/health', '/api/auth/login', '/metrics'] }),
    /\/api\/leak is open but not in allowOpen/);
  await app.close();
});

test('the protection test refuses to pass when a route escaped its list (registered before authPlugin)', async () => {
  const app = Fastify();
  app.get('/api/early', async () => ({ secret: 1 }));
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-authhttp-'));
  const { auth } = await createAuth({
    jwtSecret: SECRET, jwtDurationMs: 60_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile: join(dataDir, 'users.json'), dataDir, production: false,
  });
  await authPlugin(app, { auth });
  app.get('/api/late', async () => ({}));
  await assert.rejects(assertAllRoutesProtected(app, makeTestTokens(SECRET)), /GET \/api\/early is in the router but was registered before authPlugin/);
  await app.close();
});

test('login: right password gives a token that works; wrong password and unknown user get the same 401', async () => {
  const { app, logs } = await build();
  const ok = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'vera', password: 'vera-password' } });
  assert.equal(ok.statusCode, 200);
  const body = ok.json() as { token: string; expires_at: string; role: string };
  assert.equal(body.role, 'viewer');
  assert.ok(Date.parse(body.expires_at) > Date.now() + 3_500_000);
  const me = await app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${body.token}` } });
  assert.deepEqual(me.json(), { username: 'vera', role: 'viewer', expires_at: body.expires_at });
  const list = await app.inject({ url: '/api/containers', headers: { authorization: `Bearer ${body.token}` } });
  assert.equal(list.statusCode, 200);
  const asAdmin = await app.inject({ method: 'POST', url: '/api/rules', headers: { authorization: `Bearer ${body.token}` }, payload: {} });
  assert.equal(asAdmin.statusCode, 403);
  assert.equal(asAdmin.json().error, 'PERMISSION_DENIED');

  const wrong = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'vera', password: 'nope-nope' } });
  const unknown = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody', password: 'nope-nope' } });
  assert.equal(wrong.statusCode, 401);
  assert.deepEqual(wrong.json(), unknown.json());
  assert.deepEqual(wrong.json(), { error: 'UNAUTHENTICATED', message: 'invalid username or password' });
  const bad = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'vera' } });
  assert.equal(bad.statusCode, 400);

  const admin = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: 'admin-password' } });
  const adminToken = admin.json().token as string;
  const rules = await app.inject({ method: 'POST', url: '/api/rules', headers: { authorization: `Bearer ${adminToken}` }, payload: {} });
  assert.equal(rules.statusCode, 200);
  // No password or token in the logs, even with the token in a query string.
  await app.inject({ url: `/api/containers?token=${adminToken}`, headers: { authorization: `Bearer ${adminToken}` } });
  await app.close();
  const text = logs();
  assert.ok(text.includes('/api/containers?token=[redacted]'), 'requests were logged');
  for (const secret of ['vera-password', 'admin-password', body.token, adminToken]) assert.ok(!text.includes(secret), 'secret in logs');
});

test('login is rate-limited per IP and username; other usernames are not affected', async () => {
  const { app } = await build({ rate: 3 });
  const attempt = (username: string, password = 'nope-nope') =>
    app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  const codes = [];
  for (let i = 0; i < 5; i++) codes.push((await attempt('vera')).statusCode);
  assert.deepEqual(codes, [401, 401, 401, 429, 429]);
  const limited = await attempt('vera', 'vera-password');
  assert.equal(limited.statusCode, 429, 'even the right password waits');
  assert.equal(limited.json().error, 'RESOURCE_EXHAUSTED');
  assert.ok(Number(limited.headers['retry-after']) > 0);
  assert.equal((await attempt('admin', 'admin-password')).statusCode, 200);
  await app.close();
});

test('agent credentials may not read the API; the agent route takes them', async () => {
  const { app } = await build();
  const viaStatic = await app.inject({ url: '/api/containers', headers: { authorization: 'Bearer static-agent-token-1' } });
  assert.equal(viaStatic.statusCode, 403);
  const ingest = await app.inject({ method: 'POST', url: '/api/ingest', headers: { authorization: 'Bearer static-agent-token-1' }, payload: {} });
  assert.equal(ingest.statusCode, 200);
  await app.close();
});

test('security headers: CSP allows only self, no inline script, no upgrade to https', async () => {
  const { app } = await build();
  const res = await app.inject({ url: '/health' });
  assert.equal(res.statusCode, 200);
  const csp = String(res.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'(;|$)/);
  assert.match(csp, /object-src 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests|https?:/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
  await app.close();
});

test('/metrics is open without METRICS_TOKEN, and behind it when set', async () => {
  const open = await build();
  assert.equal((await open.app.inject({ url: '/metrics' })).statusCode, 200);
  await open.app.close();
  const guarded = await build({ metricsToken: 'metrics-secret-token' });
  assert.equal((await guarded.app.inject({ url: '/metrics' })).statusCode, 401);
  assert.equal((await guarded.app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-secret-tokeN' } })).statusCode, 401);
  assert.equal((await guarded.app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-secret-token' } })).statusCode, 200);
  assert.equal((await guarded.app.inject({ url: '/health' })).statusCode, 200);
  await guarded.app.close();
});

test('/ws over a real socket: token in Sec-WebSocket-Protocol or ?token=, 4401 when bad', async () => {
  const { app } = await build();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const { default: WebSocket } = await import('ws');
  const tokens = makeTestTokens(SECRET);
  const outcome = (url: string, protocols?: string[]) => new Promise<{ proto?: string; msg?: string; close?: number }>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${url}`, protocols);
    ws.on('message', (m) => { resolve({ proto: ws.protocol, msg: m.toString() }); ws.close(); });
    ws.on('close', (code) => resolve({ close: code }));
    ws.on('error', () => undefined);
  });
  const viaProto = await outcome('/ws', ['dockwatch', tokens.viewer]);
  assert.equal(viaProto.proto, 'dockwatch');
  assert.equal(JSON.parse(viaProto.msg!).user, 'test-viewer');
  assert.equal(JSON.parse((await outcome(`/ws?token=${tokens.admin}`)).msg!).user, 'test-admin');
  assert.equal((await outcome('/ws')).close, 4401);
  assert.equal((await outcome('/ws', ['dockwatch', tokens.expired])).close, 4401);
  assert.equal((await outcome('/ws', ['dockwatch', tokens.forged])).close, 4401);
  assert.equal((await outcome('/ws', ['dockwatch', tokens.agent])).close, 4403);
  await app.close();
});
