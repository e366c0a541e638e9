// The live dashboard and the history page in real headless Chromium, against the real auth
// plugins, helmet's CSP and the real web/ files (fake-but-shaped /api and /ws until the real
// server exists; see test/helpers/web-fake-server.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import jwt from 'jsonwebtoken';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { requireEnv } from '../helpers/env.js';
import { JWT_SECRET, startFakeServer, type FakeContainer, type FakeServer } from '../helpers/web-fake-server.js';

const ARTIFACTS = '.test-artifacts';
let browser: Browser;
let server: FakeServer;

function container(id: string, over: Partial<FakeContainer> = {}, stats: Partial<FakeContainer['stats']> = {}): FakeContainer {
  return {
    id, name: `web-${id}`, image: 'dockwatch-test/busybox:latest', host: 'web-host-1', state: 'running', health: 'none',
    labels: { 'com.example.tier': id === 'c2' ? 'db' : 'web' },
    stats: {
      cpu_percent: 12.5, mem_usage_bytes: 64 * 2 ** 20, mem_limit_bytes: 256 * 2 ** 20, mem_percent: 25,
      net_rx_bytes: 1000, net_tx_bytes: 500, blk_read_bytes: 4096, blk_write_bytes: 0, pids: 3, ts: Date.now(), ...stats,
    },
    ...over,
  };
}

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startFakeServer({ loginRateLimit: 100 });
  browser = await chromium.launch({
    executablePath: requireEnv('TEST_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page that records CSP violations and script errors, which must stay empty. */
async function newPage(viewport = { width: 1280, height: 900 }): Promise<{ ctx: BrowserContext; page: Page; problems: string[] }> {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[13]|status of 429/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  return { ctx, page, problems };
}

async function logIn(page: Page, username = 'vera', password = 'vera-password'): Promise<void> {
  await page.goto(server.url);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-submit');
}

test('log in, see containers arrive live with rates, sparklines and state changes', async () => {
  server.containers.clear();
  server.pushSample(container('c1'));
  const { ctx, page, problems } = await newPage();
  await logIn(page);
  await page.waitForSelector('.container-card[data-container-id="c1"]');
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live');
  assert.equal(await page.textContent('#whoami'), 'vera (viewer)');

  // A new container arrives over /ws only.
  const t0 = Date.now();
  server.pushSample(container('c2', {}, { ts: t0, net_rx_bytes: 10_000, blk_write_bytes: 0 }));
  await page.waitForSelector('.container-card[data-container-id="c2"]');
  // A second sample 2 s later: rx grew by 4 KiB -> 2 KiB/s; writes by 2 MiB -> 1 MiB/s.
  server.pushSample(container('c2', {}, { ts: t0 + 2000, net_rx_bytes: 10_000 + 4096, blk_write_bytes: 2 * 2 ** 20 }));
  await page.waitForFunction(() => document.querySelector('[data-container-id="c2"] .value.net')?.textContent?.startsWith('2.0 KiB/s'));
  assert.match((await page.textContent('[data-container-id="c2"] .value.blk'))!, /\/ 1\.0 MiB\/s$/);
  assert.equal(await page.textContent('[data-container-id="c2"] .value.pids'), '3');
  server.pushSample(container('c2', {}, { ts: t0 + 4000, cpu_percent: 80, net_rx_bytes: 10_000 + 8192, blk_write_bytes: 3 * 2 ** 20 }));
  await page.waitForFunction(() => Number(document.querySelector('[data-container-id="c2"] .spark-cpu')?.getAttribute('data-points')) >= 3);
  assert.equal(await page.textContent('[data-container-id="c2"] .value.cpu'), '80.0%');

  // The state changes when a sample says so, and when a lifecycle event says so.
  server.pushSample(container('c1', { state: 'exited' }, { ts: Date.now(), cpu_percent: 0 }));
  await page.waitForFunction(() => document.querySelector('[data-container-id="c1"] .state')?.textContent === 'exited');
  server.pushRaw({ type: 'event', host: 'web-host-1', container_id: 'c2', container_name: 'web-c2', action: 'die', ts: Date.now(), exit_code: 137, health: '' });
  await page.waitForFunction(() => document.querySelector('[data-container-id="c2"] .state')?.textContent === 'exited');

  // Firing alerts appear.
  server.pushRaw({ type: 'alert', alert: { id: 'a1', ruleId: 'cpu-high', severity: 'critical', state: 'firing', host: 'web-host-1', containerId: 'c2', containerName: 'web-c2', value: 95, threshold: 90, message: 'CPU 95% > 90%', timestampMs: Date.now() } });
  await page.waitForSelector('#alerts:not([hidden]) li');
  assert.match((await page.textContent('#alert-list'))!, /web-c2.*CPU 95% > 90%/);
  server.pushRaw({ type: 'alert', alert: { id: 'a2', ruleId: 'cpu-high', state: 'resolved', containerId: 'c2' } });
  await page.waitForSelector('#alerts[hidden]', { state: 'attached' });

  await page.screenshot({ path: `${ARTIFACTS}/web-live.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('filter by name and label, sort by CPU', async () => {
  server.containers.clear();
  server.pushSample(container('c1', {}, { cpu_percent: 5 }));
  server.pushSample(container('c2', {}, { cpu_percent: 50 }));
  server.pushSample(container('c3', { name: 'other-thing', labels: {} }, { cpu_percent: 20 }));
  const { ctx, page, problems } = await newPage();
  await logIn(page);
  await page.waitForSelector('[data-container-id="c3"]');
  const ids = () => page.$$eval('#containers .container-card', (els) => els.map((e) => (e as HTMLElement).dataset.containerId));
  await page.selectOption('#sort', 'cpu');
  await page.waitForFunction(() => document.querySelector('#containers .container-card')?.getAttribute('data-container-id') === 'c2');
  assert.deepEqual(await ids(), ['c2', 'c3', 'c1']);
  await page.fill('#filter-name', 'web-');
  await page.waitForFunction(() => document.querySelectorAll('#containers .container-card').length === 2);
  await page.fill('#filter-label', 'com.example.tier=db');
  await page.waitForFunction(() => document.querySelectorAll('#containers .container-card').length === 1);
  assert.deepEqual(await ids(), ['c2']);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('wrong password shows a message that does not say which part was wrong', async () => {
  const { ctx, page, problems } = await newPage();
  await logIn(page, 'vera', 'not-the-password');
  await page.waitForSelector('#login-message:not([hidden])');
  assert.equal(await page.textContent('#login-message'), 'Invalid username or password.');
  const resp = page.waitForResponse('**/api/auth/login');
  await logIn(page, 'nobody-at-all', 'not-the-password');
  assert.equal((await resp).status(), 401);
  await page.waitForSelector('#login-message:not([hidden])');
  assert.equal(await page.textContent('#login-message'), 'Invalid username or password.');
  assert.equal(await page.isHidden('#live-view'), true);
  await page.screenshot({ path: `${ARTIFACTS}/web-wrong-password.png` });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('the login rate limit shows in the form', async () => {
  // Its own server with LOGIN_RATE_LIMIT=3, so the other tests' logins do not count.
  const limited = await startFakeServer({ loginRateLimit: 3 });
  const { ctx, page, problems } = await newPage();
  const messages: string[] = [];
  for (let i = 0; i < 4; i++) {
    await page.goto(limited.url);
    await page.fill('#username', 'rate-limited-user');
    await page.fill('#password', `guess-${i}`);
    const resp = page.waitForResponse('**/api/auth/login');
    await page.click('#login-submit');
    await resp;
    await page.waitForSelector('#login-message:not([hidden])');
    messages.push((await page.textContent('#login-message'))!);
  }
  assert.deepEqual(messages.slice(0, 3), Array(3).fill('Invalid username or password.'));
  assert.match(messages[3]!, /^Too many attempts\. Please retry in \d+/);
  await page.screenshot({ path: `${ARTIFACTS}/web-rate-limit.png` });
  assert.deepEqual(problems, []);
  await ctx.close();
  await limited.close();
});

test('an expired session sends the user back to the login: on reload, and on /ws close 4401', async () => {
  const { ctx, page, problems } = await newPage();
  // 1) A stored token the server calls expired.
  const now = Math.floor(Date.now() / 1000);
  const expired = jwt.sign({ role: 'viewer', iat: now - 7200, exp: now - 60 }, JWT_SECRET, { algorithm: 'HS256', subject: 'vera', issuer: 'dockwatch' });
  await page.goto(server.url);
  await page.evaluate((t) => { localStorage.setItem('dockwatch.token', t); localStorage.removeItem('dockwatch.expires_at'); }, expired);
  await page.goto(`${server.url}/dashboard.html?container=c1`).catch(() => undefined); // the page may redirect before "load"
  // Polling the URL rides over the redirect; waitForURL can see the first navigation aborted.
  // The login keeps the page that was asked for, to come back to it (issue 15).
  const back = `${server.url}/?next=${encodeURIComponent('/dashboard.html?container=c1')}`;
  for (let i = 0; i < 100 && page.url() !== back; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page.url(), back);
  await page.waitForSelector('#login-message:not([hidden])');
  assert.match((await page.textContent('#login-message'))!, /session expired/i);

  // 2) Logged in, then the server ends the session on the socket.
  await logIn(page);
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live');
  server.closeSockets(4401);
  await page.waitForSelector('#login-view:not([hidden])');
  assert.match((await page.textContent('#login-message'))!, /session expired/i);
  assert.equal(await page.evaluate(() => localStorage.getItem('dockwatch.token')), null);
  await page.screenshot({ path: `${ARTIFACTS}/web-session-expired.png` });
  assert.deepEqual(problems.filter((p) => !/WebSocket/.test(p)), []);
  await ctx.close();
});

test('the connection indicator reconnects by itself after the server drops the socket', async () => {
  const { ctx, page, problems } = await newPage();
  await logIn(page);
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live');
  const statuses: string[] = [];
  await page.exposeFunction('recordStatus', (s: string) => statuses.push(s));
  await page.evaluate(() => {
    const c = document.querySelector('#conn')!;
    new MutationObserver(() => (window as unknown as { recordStatus: (s: string) => void }).recordStatus(c.getAttribute('data-status') ?? '')).observe(c, { attributes: true, attributeFilter: ['data-status'] });
  });
  server.closeSockets(1012);
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'down');
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live', undefined, { timeout: 15_000 });
  assert.ok(statuses.includes('down') && statuses.at(-1) === 'live', statuses.join(','));
  // Samples flow again on the new socket.
  server.pushSample(container('c9', { name: 'after-reconnect' }));
  await page.waitForSelector('[data-container-id="c9"]');
  assert.deepEqual(problems.filter((p) => !/WebSocket/.test(p)), []);
  await ctx.close();
});

test('/dashboard.html: charts hold the history API points and grow with live samples', async () => {
  const now = Date.now();
  server.containers.clear();
  // Older than the last history point, so the /ws snapshot of it does not extend the charts.
  server.pushSample(container('c1', {}, { ts: now - 100_000 }));
  // 30 points, 10 s apart: cpu = i, rx grows 1000 B per 10 s (100 B/s), reads 10 KiB per 10 s.
  const points = Array.from({ length: 30 }, (_, i) => ({
    ts: now - (30 - i) * 10_000, cpu_percent: i, mem_usage_bytes: (100 + i) * 2 ** 20, mem_limit_bytes: 512 * 2 ** 20,
    net_rx_bytes: 5000 + i * 1000, net_tx_bytes: 100 + i * 10, blk_read_bytes: i * 10_240, blk_write_bytes: 0, pids: 4,
  }));
  server.history.set('c1', points);
  const { ctx, page, problems } = await newPage();
  await logIn(page);
  await page.waitForSelector('[data-container-id="c1"]');
  await page.click('[data-container-id="c1"] a.name');
  await page.waitForURL(/\/dashboard\.html\?container=c1/);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  // A string, not a function: tsx would wrap inner arrow functions in a __name() the page lacks.
  const read = () => page.evaluate(`(() => {
    const get = (id) => Chart.getChart(document.getElementById(id)).data.datasets.map((d) => d.data.map((p) => [p.x, p.y]));
    return { cpu: get('chart-cpu'), mem: get('chart-mem'), net: get('chart-net'), blk: get('chart-blk') };
  })()`) as Promise<Record<'cpu' | 'mem' | 'net' | 'blk', [number, number | null][][]>>;
  const c = await read();
  assert.deepEqual(c.cpu[0]!.map(([x]) => x), points.map((p) => p.ts));
  assert.deepEqual(c.cpu[0]!.map(([, y]) => y), points.map((p) => p.cpu_percent));
  assert.deepEqual(c.mem[0]!.map(([, y]) => y), points.map((p) => p.mem_usage_bytes));
  // Rates: the first point has no predecessor.
  assert.equal(c.net[0]![0]![1], null);
  assert.deepEqual(c.net[0]!.slice(1).map(([, y]) => y), Array(29).fill(100));
  assert.deepEqual(c.net[1]!.slice(1).map(([, y]) => y), Array(29).fill(1));
  assert.deepEqual(c.blk[0]!.slice(1).map(([, y]) => y), Array(29).fill(1024));
  assert.equal(await page.getAttribute('button.range[data-range="1h"]', 'aria-pressed'), 'true');

  // A live sample extends the right edge.
  await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-status') === 'live');
  const last = points.at(-1)!;
  const liveTs = Date.now();
  server.pushSample(container('c1', {}, {
    ts: liveTs, cpu_percent: 77, net_rx_bytes: last.net_rx_bytes + (liveTs - last.ts) * 2, net_tx_bytes: last.net_tx_bytes,
    blk_read_bytes: last.blk_read_bytes, blk_write_bytes: 0, mem_usage_bytes: 200 * 2 ** 20,
  }));
  await page.waitForFunction(() => (window as unknown as { dockwatchCharts: { cpu: { data: { datasets: { data: unknown[] }[] } } } }).dockwatchCharts.cpu.data.datasets[0]!.data.length === 31);
  const c2 = await read();
  assert.deepEqual(c2.cpu[0]!.at(-1), [liveTs, 77]);
  assert.ok(Math.abs((c2.net[0]!.at(-1)![1] as number) - 2000) < 1, `live rx rate ${c2.net[0]!.at(-1)![1]}`);
  await page.screenshot({ path: `${ARTIFACTS}/web-dashboard.png`, fullPage: true });

  // The 15m range asks the API again and holds only the points inside it.
  await page.click('button.range[data-range="15m"]');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('range') === '15m' && document.body.dataset.loaded === 'true');
  const c3 = await read();
  const inside = points.filter((p) => p.ts >= Date.now() - 15 * 60_000);
  assert.equal(c3.cpu[0]!.length, inside.length);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('/dashboard.html on a phone-sized screen: no sideways scrolling, charts fit', async () => {
  server.history.set('host:web-host-1', Array.from({ length: 10 }, (_, i) => ({
    ts: Date.now() - (10 - i) * 60_000, cpu_percent: 10 + i, mem_used_bytes: 2 ** 30, mem_total_bytes: 4 * 2 ** 30, net_rx_bytes: i * 6000, net_tx_bytes: i * 600,
  })));
  const { ctx, page, problems } = await newPage({ width: 390, height: 844 });
  await logIn(page);
  await page.waitForSelector('#live-view:not([hidden])');
  await page.goto(`${server.url}/dashboard.html?host=web-host-1&range=6h`);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    canvases: Array.from(document.querySelectorAll('canvas')).filter((c) => c.offsetParent !== null).map((c) => c.getBoundingClientRect().right),
    blkHidden: (document.getElementById('card-blk') as HTMLElement).hidden,
    cpuPoints: (window as unknown as { dockwatchCharts: { cpu: { data: { datasets: { data: unknown[] }[] } } } }).dockwatchCharts.cpu.data.datasets[0]!.data.length,
  }));
  assert.ok(layout.scrollWidth <= layout.innerWidth, `page is ${layout.scrollWidth}px wide on a ${layout.innerWidth}px screen`);
  for (const right of layout.canvases) assert.ok(right <= layout.innerWidth, `a chart ends at ${right}px`);
  assert.equal(layout.cpuPoints, 10);
  assert.equal(layout.canvases.length, 3);
  assert.equal(layout.blkHidden, true, 'hosts have no block I/O chart');
  await page.screenshot({ path: `${ARTIFACTS}/web-dashboard-phone.png`, fullPage: true });
  assert.deepEqual(problems, []);
  await ctx.close();
});
