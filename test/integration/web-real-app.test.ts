// The pages and the auth plugins on the lead's real buildApp, with real Docker containers
// collected by the real collector and pushed through the in-memory bus, in real Chromium:
// log in, see the containers arrive live, stop one and see its state change. Also runs the
// route-protection test over every route the real app registers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { createCollector } from '../../src/application/collect.js';
import type { Logger } from '../../src/application/ports.js';
import { compileSubscriptionFilter } from '../../src/application/subscription-filter.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { createCgroupUsageReader } from '../../src/infrastructure/cgroup/reader.js';
import { createDockerRuntime } from '../../src/infrastructure/docker/runtime.js';
import { createEngineStatsReader } from '../../src/infrastructure/docker/stats-reader.js';
import { createHostCollector } from '../../src/infrastructure/host/collector.js';
import { buildApp, type WsFilterQuery } from '../../src/infrastructure/http/app.js';
import { createAuthPlugin, webSocketAuthenticator } from '../../src/infrastructure/http/auth/plugin.js';
import { createAuthRoutes } from '../../src/infrastructure/http/auth/routes.js';
import { createSecurityPlugin } from '../../src/infrastructure/http/auth/security.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createSqliteStore } from '../../src/infrastructure/sqlite/store.js';
import { historyRoutes } from '../../src/infrastructure/http/routes/history.js';
import { requireEnv } from '../helpers/env.js';
import { assertAllRoutesProtected, makeTestTokens } from '../helpers/route-protection.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const CHROMIUM = requireEnv('TEST_CHROMIUM');
const PREFIX = `auth-web-${process.pid}`;
const SECRET = 'real-app-secret-'.padEnd(48, 'r');
const run = promisify(execFile);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const docker = async (...args: string[]) =>
  (await run('docker', args, { env: { ...process.env, DOCKER_HOST }, timeout: 60_000 })).stdout.trim();

let app: FastifyInstance;
let browser: Browser;
let url: string;
let timer: NodeJS.Timeout | undefined;
let stopEvents: (() => void) | undefined;
let closeRuntime: (() => void) | undefined;
let store: ReturnType<typeof createSqliteStore> | undefined;
let stopped = false;
const ids: Record<string, string> = {};

before(async () => {
  await mkdir('.test-artifacts', { recursive: true });
  const [a, b] = await Promise.all(['alpha', 'beta'].map((n) => docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1',
    '--label', `com.example.role=${n}`, '--name', `${PREFIX}-${n}`, IMAGE, 'sh', '-c', 'while :; do sleep 1; done')));
  ids.alpha = a!;
  ids.beta = b!;

  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-realweb-'));
  const { auth } = await createAuth({
    jwtSecret: SECRET, jwtDurationMs: 3_600_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile: join(dataDir, 'users.json'), dataDir, production: false,
  });
  const latest = createMemoryLatestStore();
  const bus = createMemoryBus();
  // The embedded store behind the real history routes, so /dashboard.html reads real history.
  store = createSqliteStore({ dataDir, log: silent, compactEveryMs: 0 });
  const history = store;
  app = await buildApp({
    logger: pino({ level: 'silent' }),
    latest,
    bus,
    health: () => ({ status: 'ok', components: {} }),
    webDir: resolve('web'),
    chartJsFile: resolve('node_modules/chart.js/dist/chart.umd.js'),
    compileFilter: (q: WsFilterQuery) => {
      const list = (v?: string) => (v ? v.split(',') : []);
      const f = compileSubscriptionFilter({ hosts: list(q.host), containerIds: list(q.id), names: list(q.name), labels: list(q.label) });
      return (c) => f.matchesContainer(c);
    },
    authenticateWebSocket: webSocketAuthenticator(),
    plugins: [createSecurityPlugin(), createAuthPlugin({ auth }), createAuthRoutes({ auth, loginRateLimit: 20 }),
      async (a) => historyRoutes(a, { store: history })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  // The agent's collection round, at 1 s, straight into the bus (the gRPC hop is the gRPC helper's test).
  const runtime = createDockerRuntime({ dockerHost: DOCKER_HOST, log: silent });
  const collector = createCollector({
    runtime, readers: [createCgroupUsageReader({ log: silent }), createEngineStatsReader({ client: runtime.client, log: silent })],
    host: createHostCollector({ runtimeAvailable: () => true }), log: silent,
  });
  let sequence = 0;
  const events: MetricBatch['events'] = [];
  stopEvents = runtime.watchEvents((e) => events.push(e));
  const round = async () => {
    const r = await collector.collect();
    const batch: MetricBatch = {
      agentId: 'web-agent', hostname: hostname(), sequence: ++sequence, timestampMs: Date.now(), host: r.host,
      containers: r.containers.filter((c) => c.name.startsWith(PREFIX)), events: events.splice(0), complete: false, intervalMs: 1000,
    };
    latest.apply(batch);
    await history.writeBatch(batch);
    await bus.publish(batch);
  };
  // A round in flight at the end must not schedule another one.
  const loop = () => { if (!stopped) timer = setTimeout(() => { round().catch(() => undefined).finally(loop); }, 1000); };
  closeRuntime = () => runtime.close();
  await round();
  loop();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  stopped = true;
  clearTimeout(timer);
  stopEvents?.();
  closeRuntime?.();
  await browser?.close();
  await app?.close();
  await store?.close();
  const left = await docker('ps', '-aq', '--filter', `name=${PREFIX}`).catch(() => '');
  if (left) await docker('rm', '-f', ...left.split('\n'));
});

test('real buildApp: every route it registers is protected', async () => {
  const { checked, open } = await assertAllRoutesProtected(app, makeTestTokens(SECRET), {
    allowOpen: ['/health', '/api/auth/login', '/vendor/chart.umd.js', '/*', '/'],
  });
  const names = checked.map((r) => `${r.method} ${r.url}`);
  for (const must of ['GET /api/containers', 'GET /api/hosts', 'GET /ws', 'GET /api/auth/me']) assert.ok(names.includes(must), must);
  assert.ok(open.some((r) => r.url === '/health'));
});

test('real buildApp + real containers: log in, containers arrive live, stopping one changes its state', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  await page.goto(url);
  await page.fill('#username', 'admin');
  await page.fill('#password', 'admin-password');
  await page.click('#login-submit');
  const card = (n: string) => `.container-card[data-container-id="${ids[n]}"]`;
  await page.waitForSelector(card('alpha'), { timeout: 20_000 });
  await page.waitForSelector(card('beta'), { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live');
  assert.equal(await page.textContent(`${card('alpha')} .name`), `${PREFIX}-alpha`);
  assert.equal(await page.textContent(`${card('alpha')} .state`), 'running');
  // Sparklines fill from live samples.
  await page.waitForFunction((sel) => Number(document.querySelector(`${sel} .spark-cpu`)?.getAttribute('data-points')) >= 2, card('alpha'), { timeout: 20_000 });

  await docker('stop', '-t', '1', ids.beta!);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`)?.textContent === 'exited', card('beta'), { timeout: 20_000 });
  assert.equal(await page.textContent(`${card('alpha')} .state`), 'running');
  await page.screenshot({ path: '.test-artifacts/web-real-app-live.png', fullPage: true });

  // The history page on the real app: Chart.js from /vendor, charts first filled from the real
  // history API (embedded store), then growing with live samples.
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin-password' }),
  });
  const { token } = (await login.json()) as { token: string };
  const hist = (await (await fetch(`${url}/api/metrics?container_id=${ids.alpha}&from=-15m`, { headers: { authorization: `Bearer ${token}` } })).json()) as
    { points: Array<{ ts: number; cpu_percent: number | null }> };
  assert.ok(hist.points.length >= 2, `history API returned ${hist.points.length} points`);
  await page.goto(`${url}/dashboard.html?container=${ids.alpha}&range=15m`);
  await page.waitForFunction(() => (window as unknown as { Chart?: unknown }).Chart !== undefined);
  await page.waitForFunction((n) => (window as unknown as { dockwatchCharts: { cpu: { data: { datasets: { data: unknown[] }[] } } } })
    .dockwatchCharts.cpu.data.datasets[0]!.data.length >= n, hist.points.length, { timeout: 20_000 });
  // Read through Chart.js's own registry: the history points are on the chart, with their times and values.
  const onChart = (await page.evaluate(`Chart.getChart(document.getElementById('chart-cpu')).data.datasets[0].data`)) as Array<{ x: number; y: number | null }>;
  const first = hist.points[0]!;
  const match = onChart.find((p) => p.x === first.ts);
  assert.ok(match, `the first history point (${first.ts}) is not on the CPU chart`);
  assert.equal(match.y, first.cpu_percent);
  await page.screenshot({ path: '.test-artifacts/web-real-app-dashboard.png', fullPage: true });
  // This app registers no alert routes (they are covered in the alerting tests): only that 404 may show.
  assert.deepEqual(problems.filter((p) => p !== '404 /api/alerts' && !/status of 404/.test(p)), []);
  assert.ok(problems.filter((p) => /^\d{3} /.test(p)).every((p) => p === '404 /api/alerts'), problems.join('; '));
  await ctx.close();
});
