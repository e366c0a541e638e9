// Issue 15, points 2 and 3 (the issue's 4 and 3): the history page and the alerts and rules
// pages, on the real `dockwatch server` process with the real agent and real containers (one
// of them OOM-killed, one restarted) plus the synthetic fleet over real gRPC.
// - after login the user lands on the URL that was asked for (any page);
// - axis ticks never repeat ("1 B/s, 1 B/s"), byte axes on round units;
// - range and containers in the URL; up to 5 overlaid;
// - annotations from the stored lifecycle events (an OOM kill and a restart that happened before
//   the page was opened), folded with the stored OOM alert, and from live events (a restart);
// - alerts page: filters, links to the history at the alert's time;
// - rules page: read-only for viewers; for admins an editor whose 400 shows beside the field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { requireEnv } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';
import { loginForm, shootBothThemes, startFleetApp, watchProblems, type FleetApp } from '../helpers/web-fleet.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const CHROMIUM = requireEnv('TEST_CHROMIUM');
const PREFIX = `whist-${process.pid}`;
let app: FleetApp;
const ids: Record<string, string> = {};
interface Alert { id: string; ruleId: string; containerId: string; containerName: string; host: string; state: string; severity: string; timestampMs: number; message: string }
interface StoredEvent { ts: number; action: string; container_id: string; exit_code: number }
const storedEvents = async (id: string, actions: string): Promise<StoredEvent[]> =>
  (await app.get<{ events: StoredEvent[] }>(`/api/containers/${id}/events?from=-15m&action=${actions}`)).events;

before(async () => {
  app = await startFleetApp({ tag: PREFIX, dockerHost: DOCKER_HOST, chromium: CHROMIUM, hosts: 2, perHost: 40 });
  ids.idle = await app.docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--name', `${PREFIX}-idle`, IMAGE, 'sh', '-c', 'while :; do sleep 1; done');
  ids.oom = await app.docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--memory', '16m', '--memory-swap', '16m',
    '--name', `${PREFIX}-oom`, IMAGE, 'sh', '-c', 'sleep 4; dd if=/dev/zero of=/dev/shm/f bs=1M count=64; sleep 600');
});

after(async () => {
  await app?.close();
  const left = await app?.docker('ps', '-aq', '--filter', `name=${PREFIX}`).catch(() => '');
  if (left) await app.docker('rm', '-f', ...left.split('\n'));
});

const charts = (page: Page, expr: string) => page.evaluate(`(() => { const c = window.dockwatchCharts; return ${expr}; })()`);

test('login comes back to the page that was asked for (any page); foreign ?next is ignored', async () => {
  const ctx = await app.browser.newContext();
  const page = await ctx.newPage();
  const wanted = `/dashboard.html?container=${ids.idle}&range=15m`;
  await page.goto(`${app.url}${wanted}`);
  await page.waitForURL((u) => u.pathname === '/' && u.searchParams.get('next') === wanted);
  await loginForm(page);
  await page.waitForURL((u) => `${u.pathname}${u.search}` === wanted);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  await ctx.close();
  // Another page (a fresh browser profile: no session), and a logged-in visit with ?next goes straight on.
  const ctx2 = await app.browser.newContext();
  const page2 = await ctx2.newPage();
  await hostsThenNext(page2);
  await ctx2.close();
  // Not to another site.
  const ctx3 = await app.browser.newContext();
  const page3 = await ctx3.newPage();
  await page3.goto(`${app.url}/?next=${encodeURIComponent('//evil.example/x')}`);
  await loginForm(page3);
  await page3.waitForFunction(() => !document.getElementById('live-view')!.hidden);
  assert.equal(new URL(page3.url()).host, new URL(app.url).host);
  assert.equal(new URL(page3.url()).pathname, '/');
  await ctx3.close();
});

async function hostsThenNext(page: Page): Promise<void> {
  await page.goto(`${app.url}/hosts.html`);
  await page.waitForURL((u) => u.searchParams.get('next') === '/hosts.html');
  await loginForm(page, 'vera');
  await page.waitForURL((u) => u.pathname === '/hosts.html');
  // The index page sends a logged-in visitor on at once: the first navigation may be cut short.
  await page.goto(`${app.url}/?next=${encodeURIComponent('/alerts.html')}`).catch(() => undefined);
  await page.waitForURL((u) => u.pathname === '/alerts.html');
}

test('history: ticks readable for an idle container, range and containers in the URL, overlay of up to 5', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = watchProblems(page);
  await page.goto(`${app.url}/?next=${encodeURIComponent(`/dashboard.html?container=${ids.idle}&range=15m`)}`);
  await loginForm(page);
  await page.waitForURL((u) => u.pathname === '/dashboard.html');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  // A few live points, so the idle container's zero rates are on the charts.
  await page.waitForFunction(() => (window as unknown as { dockwatchCharts: { net: { data: { datasets: { data: unknown[] }[] } } } }).dockwatchCharts.net.data.datasets[0]!.data.length >= 3, undefined, { timeout: 20_000 });
  for (const name of ['net', 'blk', 'mem', 'cpu']) {
    const labels = (await charts(page, `c.${name}.scales.y.ticks.map((t) => t.label)`)) as string[];
    assert.ok(labels.length >= 2, `${name}: ${labels}`);
    assert.equal(new Set(labels).size, labels.length, `${name} axis repeats a label: ${labels.join(', ')}`);
  }
  // The memory axis of a real container: round binary units.
  const mem = (await charts(page, 'c.mem.scales.y.ticks.map((t) => t.label)')) as string[];
  for (const l of mem) assert.match(l, /^\d+(\.\d+)? (B|KiB|MiB|GiB)$/, `memory tick ${l}`);

  // Range in the URL.
  await page.click('button.range[data-range="1h"]');
  await page.waitForURL((u) => u.searchParams.get('range') === '1h');
  // Overlay: add containers up to 5; each is in the URL and on every chart.
  const fleetIds = app.fleet!.ids[0]!.slice(0, 5);
  for (const id of fleetIds.slice(0, 4)) {
    await page.selectOption('#compare', id);
    await page.waitForFunction((n) => new URLSearchParams(location.search).getAll('container').length === n,
      1 + fleetIds.indexOf(id) + 1);
  }
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  assert.equal(await charts(page, 'c.cpu.data.datasets.length'), 5);
  assert.equal(await charts(page, 'c.net.data.datasets.length'), 5);
  assert.equal(await page.isDisabled('#compare'), true, 'no sixth');
  const shared = page.url();
  await page.screenshot({ path: '.test-artifacts/web-history-overlay.png', fullPage: true });
  // The shared link shows the same chart in a fresh tab.
  const other = await ctx.newPage();
  await other.goto(shared);
  await other.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  assert.equal(await charts(other, 'c.cpu.data.datasets.length'), 5);
  assert.equal(await other.getAttribute('button.range[data-range="1h"]', 'aria-pressed'), 'true');
  // Removing one.
  await other.click(`#target-chips li[data-id="${fleetIds[1]}"] .chip-remove`);
  await other.waitForFunction(() => new URLSearchParams(location.search).getAll('container').length === 4);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('history: annotations for an OOM kill and a restart from the stored events (page opened after them), a live restart; both themes', async () => {
  const oomAlert = await waitFor('the OOM alert stored', async () => {
    const body = await app.get<{ alerts: Alert[] }>('/api/alerts');
    return body.alerts.find((a) => a.containerId === ids.oom && a.ruleId === 'oom');
  }, 60_000, 500);
  const oom = await waitFor('the oom event stored', async () => (await storedEvents(ids.oom!, 'oom'))[0], 30_000, 500);
  // A restart before the page is opened: only the store can tell the page about it.
  await app.docker('restart', '-t', '1', ids.idle!);
  const started = await waitFor('the restart stored', async () => {
    const evs = await storedEvents(ids.idle!, 'die,start,restart');
    const die = evs.find((e) => e.action === 'die');
    return die && evs.some((e) => e.action === 'restart') ? evs.find((e) => e.action === 'start' && e.ts >= die.ts) : undefined;
  }, 30_000, 500);
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(app.url);
  await loginForm(page);
  await page.waitForSelector('#live-view:not([hidden])');
  await page.goto(`${app.url}/dashboard.html?container=${ids.oom}&container=${ids.idle}&range=15m`);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  const ann = await page.waitForSelector(`#annotation-list li[data-kind="oom"][data-source="event"][data-target="${ids.oom}"]`, { timeout: 10_000 });
  assert.equal(Number(await ann.getAttribute('data-ts')), oom.ts);
  // The OOM alert is the same incident: folded into the event's annotation, not a second one.
  assert.ok((await ann.textContent())!.includes(oomAlert.message), await ann.textContent() ?? '');
  assert.equal(await page.$$eval(`#annotation-list li[data-kind="oom"][data-target="${ids.oom}"]`, (x) => x.length), 1);
  const restarts = `#annotation-list li[data-kind="restart"][data-source="event"][data-target="${ids.idle}"]`;
  const restart = await page.waitForSelector(restarts, { timeout: 10_000 });
  assert.equal(Number(await restart.getAttribute('data-ts')), started.ts, 'at the start that followed the die');
  assert.match((await restart.textContent())!, /restarted \(exit 137, down \d+ s\)/);
  assert.equal(await page.$$eval(restarts, (x) => x.length), 1, 'die, start and restart are one restart');
  // Drawn on the chart: the plugin's line sits at the event time on the x axis.
  const px = (await charts(page, `c.cpu.scales.x.getPixelForValue(${oom.ts})`)) as number;
  const area = (await charts(page, 'c.cpu.chartArea')) as { left: number; right: number };
  assert.ok(px >= area.left && px <= area.right, 'inside the plot');
  // A restart while the page is open: a live annotation beside the stored one.
  await app.docker('restart', '-t', '1', ids.idle!);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, restarts, { timeout: 20_000 });
  const failures: string[] = [];
  await shootBothThemes(page, 'web-history', (msg, ok) => { if (!ok) failures.push(msg); });
  assert.deepEqual(failures, []);
  await ctx.close();
});

test('alerts page: filters, and a link to the container history at the alert time; both themes', async () => {
  const oom = await waitFor('the OOM alert', async () => {
    const b = await app.get<{ alerts: Alert[] }>('/api/alerts');
    return b.alerts.find((a) => a.containerId === ids.oom && a.ruleId === 'oom' && a.state === 'firing');
  }, 60_000, 500);
  const list = (await app.get<{ alerts: Alert[] }>('/api/alerts/active')).alerts;
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = watchProblems(page);
  await page.goto(`${app.url}/alerts.html`);
  await loginForm(page);
  await page.waitForURL((u) => u.pathname === '/alerts.html');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  const shown = () => page.evaluate(() => Array.from(document.querySelectorAll('#firing-list tr, #resolved-list tr')).filter((tr) => !(tr as HTMLElement).hidden).map((tr) => tr.getAttribute('data-alert-id')));
  const all = await shown();
  assert.ok(all.length >= list.length, `${all.length} rows, ${list.length} active`);
  // Host filter: only that host's alerts.
  const host = app.fleet!.hostnames[1]!;
  await page.selectOption('#f-host', host);
  const byHost = await shown();
  assert.ok(byHost.length > 0 && byHost.length < all.length);
  assert.ok(await page.evaluate((h) => Array.from(document.querySelectorAll('#firing-list tr, #resolved-list tr')).filter((tr) => !(tr as HTMLElement).hidden).every((tr) => tr.getAttribute('data-host') === h), host));
  await page.selectOption('#f-host', '');
  // Text filter on the OOM container's name; severity and state filters.
  await page.fill('#f-text', `${PREFIX}-oom`);
  const byText = await shown();
  assert.ok(byText.length >= 1 && byText.every((id) => id!.includes(ids.oom!)), byText.join(','));
  await page.fill('#f-text', '');
  await page.selectOption('#f-severity', 'warning');
  assert.ok(await page.evaluate(() => Array.from(document.querySelectorAll('#firing-list tr:not([hidden]), #resolved-list tr:not([hidden])')).every((tr) => tr.getAttribute('data-severity') === 'warning')));
  await page.selectOption('#f-severity', '');
  await page.selectOption('#f-state', 'resolved');
  assert.ok(await page.evaluate(() => document.querySelectorAll('#firing-list tr:not([hidden])').length === 0));
  await page.selectOption('#f-state', '');
  // The link: history of that container around the alert time.
  await page.waitForSelector(`tr[data-alert-id*="${ids.oom}"]`);
  const row = (await page.$(`#firing-list tr[data-alert-id*="${ids.oom}"]`)) ? `#firing-list tr[data-alert-id*="${ids.oom}"]` : `#resolved-list tr[data-alert-id*="${ids.oom}"]`;
  const href = (await page.getAttribute(`${row} a.history-link`, 'href'))!;
  const u = new URL(href, app.url);
  assert.equal(u.searchParams.get('container'), ids.oom);
  assert.ok(Number(u.searchParams.get('from')) < oom.timestampMs && Number(u.searchParams.get('to')) > oom.timestampMs);
  const failures: string[] = [];
  await shootBothThemes(page, 'web-alerts', (msg, ok) => { if (!ok) failures.push(msg); });
  assert.deepEqual(failures, []);
  await page.click(`${row} a.history-link`);
  await page.waitForURL((x) => x.pathname === '/dashboard.html');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  assert.equal(await page.inputValue('#target'), `container:${ids.oom}`);
  assert.ok(await page.$('#annotation-list li[data-kind="oom"]'), 'the alert is annotated on the chart it links to');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('rules page: viewers read the rules in force; admins edit, errors beside the field the 400 names', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const viewer = await ctx.newPage();
  await viewer.goto(`${app.url}/rules.html`);
  await loginForm(viewer, 'vera');
  await viewer.waitForURL((u) => u.pathname === '/rules.html');
  await viewer.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  const doc = await app.get<{ rules: { id: string; threshold: number }[] }>('/api/alert-rules');
  const rows = await viewer.evaluate(() => Array.from(document.querySelectorAll('#rule-list tr')).map((tr) => tr.getAttribute('data-rule')));
  assert.deepEqual(rows, doc.rules.map((r) => r.id));
  assert.equal(await viewer.$$eval('#rule-list input, #rule-list select', (x) => x.length), 0, 'read-only for viewers');
  assert.equal(await viewer.isVisible('#save'), false);
  await ctx.close();

  const actx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await actx.newPage();
  await page.goto(`${app.url}/rules.html`);
  await loginForm(page);
  await page.waitForURL((u) => u.pathname === '/rules.html');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', undefined, { timeout: 20_000 });
  const cpuIndex = doc.rules.findIndex((r) => r.id === 'cpu');
  const field = `rules.${cpuIndex}.threshold`;
  // A bad value: the server's 400 names rules.N.threshold, shown beside that input.
  await page.fill(`[data-field="${field}"]`, 'high');
  await page.click('#save');
  const err = `.field-error[data-for="${field}"]`;
  await page.waitForSelector(`${err}:not([hidden])`);
  assert.match((await page.textContent(err))!, /number/i);
  assert.equal(await page.getAttribute(`[data-field="${field}"]`, 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-field')), field);
  // A rule-level check (duplicate id) lands beside the new rule's id.
  await page.fill('#new-id', 'memory');
  await page.click('#add-rule');
  await page.fill(`[data-field="${field}"]`, '75');
  await page.click('#save');
  const idField = `rules.${doc.rules.length}.id`;
  await page.waitForSelector(`.field-error[data-for="${idField}"]:not([hidden])`);
  assert.match((await page.textContent(`.field-error[data-for="${idField}"]`))!, /duplicate/);
  assert.equal(await page.isHidden(`${err}`), true, 'the fixed field is clear');
  // An override error is shown beside the overrides box.
  await page.fill(`[data-field="${idField}"]`, `${PREFIX}-cpu`);
  await page.fill('#overrides', JSON.stringify([{ match: 'web-*', autoheal: 'sometimes' }]));
  await page.click('#save');
  await page.waitForSelector('.field-error[data-for="overrides"]:not([hidden])');
  await page.screenshot({ path: '.test-artifacts/web-rules-error.png', fullPage: true });
  // Fixed: saved, and in force.
  await page.fill('#overrides', '[]');
  await page.click('#save');
  await page.waitForFunction(() => /Saved/.test(document.getElementById('status')!.textContent ?? ''));
  const saved = await app.get<{ rules: { id: string; threshold: number; kind: string }[] }>('/api/alert-rules');
  assert.equal(saved.rules.find((r) => r.id === 'cpu')!.threshold, 75);
  assert.equal(saved.rules.find((r) => r.id === `${PREFIX}-cpu`)!.kind, 'cpu');
  const failures: string[] = [];
  await shootBothThemes(page, 'web-rules', (msg, ok) => { if (!ok) failures.push(msg); });
  assert.deepEqual(failures, []);
  await actx.close();
});
