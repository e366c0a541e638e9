// Issue 15, point 1: the dense container table of the live page, on the real `dockwatch server`
// process fed by 500 synthetic containers on 5 hosts over real gRPC and by the real agent with
// real containers. Default view from 24 containers, the toggle remembered; sorting, filters,
// grouping by host and by compose project with collapse; live updates that keep the scroll,
// the sort and the focus; keyboard use; both themes with the switch; screenshots.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { requireEnv } from '../helpers/env.js';
import { loginForm, shootBothThemes, startFleetApp, watchProblems, type FleetApp } from '../helpers/web-fleet.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const CHROMIUM = requireEnv('TEST_CHROMIUM');
const PREFIX = `wtable-${process.pid}`;
let app: FleetApp;
const ids: Record<string, string> = {};

before(async () => {
  app = await startFleetApp({ tag: PREFIX, dockerHost: DOCKER_HOST, chromium: CHROMIUM });
  for (const n of ['alpha', 'beta']) {
    ids[n] = await app.docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--label', `com.docker.compose.project=${PREFIX}-proj`,
      '--name', `${PREFIX}-${n}`, IMAGE, 'sh', '-c', 'while :; do sleep 1; done');
  }
});

after(async () => {
  await app?.close();
  const left = await app?.docker('ps', '-aq', '--filter', `name=${PREFIX}`).catch(() => '');
  if (left) await app.docker('rm', '-f', ...left.split('\n'));
});

const rowSel = (id: string) => `#ctable-body tr.crow[data-container-id="${id}"]`;
const visibleRows = (page: Page) => page.evaluate(() => document.querySelectorAll('#ctable-body tr.crow').length);
/** The cells of the rows on screen: rows far off screen are painted when they come near, not every second. */
const onScreenTexts = (page: Page, col: string) => page.evaluate((c) => Array.from(document.querySelectorAll(`#ctable-body tr.crow td.col-${c}`))
  .filter((td) => { const r = td.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).map((td) => td.textContent ?? ''), col);
const columnTexts = (page: Page, col: string) => page.evaluate((c) => Array.from(document.querySelectorAll(`#ctable-body tr.crow td.col-${c}`)).map((td) => td.textContent ?? ''), col);

async function openLive(page: Page): Promise<void> {
  await page.goto(app.url);
  await loginForm(page);
  await page.waitForFunction(() => document.body.dataset.view === 'table' && document.querySelectorAll('#ctable-body tr.crow').length >= 500, undefined, { timeout: 30_000 });
}

test('table: default from 24 containers, real containers live, sort, filters, grouping, collapse, toggle remembered', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = watchProblems(page);
  await openLive(page);
  // The real containers arrive through the real agent, with their compose project.
  await page.waitForSelector(rowSel(ids.alpha!), { timeout: 30_000 });
  assert.equal(await page.textContent(`${rowSel(ids.alpha!)} td.col-name`), `${PREFIX}-alpha`);
  assert.equal(await page.textContent(`${rowSel(ids.alpha!)} td.col-project`), `${PREFIX}-proj`);
  assert.equal(await page.textContent(`${rowSel(ids.alpha!)} .state`), 'running');
  // Every column the issue lists is there.
  const heads = await page.evaluate(() => Array.from(document.querySelectorAll('#ctable thead th')).map((th) => th.textContent));
  for (const h of ['State', 'Name', 'Host', 'Project', 'Image', 'CPU', 'CPU 60 s', 'Memory', 'Mem %', 'Net rx / tx', 'Block r / w', 'PIDs', 'Restarts', 'Uptime']) {
    assert.ok(heads.includes(h), `column ${h} in ${heads.join('|')}`);
  }
  // The CPU sparkline fills from live samples; the mem column shows used / limit.
  await page.waitForFunction((sel) => Number(document.querySelector(`${sel} canvas.tspark`)?.getAttribute('data-points')) >= 2, rowSel(app.fleet!.ids[0]![0]!), { timeout: 20_000 });
  assert.match((await page.textContent(`${rowSel(app.fleet!.ids[0]![0]!)} td.col-mem`))!, /MiB \/ 512 MiB/);

  // Sort by CPU: descending first, numerically.
  await page.click('#ctable th.col-cpu .sort-btn');
  await page.waitForFunction(() => document.querySelector('#ctable th.col-cpu')?.getAttribute('aria-sort') === 'descending');
  await page.waitForTimeout(100);
  const cpus = (await onScreenTexts(page, 'cpu')).filter((t) => t !== '–').map((t) => Number.parseFloat(t));
  assert.ok(cpus.length > 10, `${cpus.length} rows on screen`);
  for (let i = 1; i < cpus.length; i++) assert.ok(cpus[i - 1]! >= cpus[i]!, `CPU sorted descending at ${i}: ${cpus[i - 1]} then ${cpus[i]}`);
  await page.click('#ctable th.col-cpu .sort-btn');
  await page.waitForFunction(() => document.querySelector('#ctable th.col-cpu')?.getAttribute('aria-sort') === 'ascending');
  // Sort by name.
  await page.click('#ctable th.col-name .sort-btn');
  await page.waitForTimeout(100);
  const names = await columnTexts(page, 'name');
  assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)));

  // Filters: text, host, label, state.
  await page.fill('#filter-name', `${PREFIX}-al`);
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.crow').length === 1);
  await page.fill('#filter-name', '');
  await page.selectOption('#filter-host', app.fleet!.hostnames[2]!);
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.crow').length === 100);
  await page.selectOption('#filter-host', '');
  await page.fill('#filter-label', 'tier=db');
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.crow').length === 125);
  await page.fill('#filter-label', '');
  await page.selectOption('#filter-state', 'exited');
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.crow').length > 0
    && Array.from(document.querySelectorAll('#ctable-body tr.crow')).every((tr) => tr.getAttribute('data-state') === 'exited'));
  await page.selectOption('#filter-state', 'unhealthy');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#ctable-body tr.crow .health')).every((h) => h.textContent === 'unhealthy'));
  await page.selectOption('#filter-state', '');
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.crow').length >= 502);

  // Group by host: one header per host (5 synthetic + the real one), collapsible.
  await page.selectOption('#group', 'host');
  await page.waitForFunction(() => document.querySelectorAll('#ctable-body tr.group-row').length >= 6);
  const groups = await page.evaluate(() => Array.from(document.querySelectorAll('#ctable-body tr.group-row')).map((r) => r.getAttribute('data-group')));
  for (const h of app.fleet!.hostnames) assert.ok(groups.includes(h), `group ${h}`);
  assert.ok(groups.includes(`${PREFIX}-real-host`));
  const before = await visibleRows(page);
  await page.click(`#ctable-body tr.group-row[data-group="${app.fleet!.hostnames[0]}"] .group-toggle`);
  await page.waitForFunction((n) => document.querySelectorAll('#ctable-body tr.crow').length === n - 100, before);
  assert.equal(await page.getAttribute(`#ctable-body tr.group-row[data-group="${app.fleet!.hostnames[0]}"] .group-toggle`, 'aria-expanded'), 'false');
  await page.screenshot({ path: '.test-artifacts/web-table-grouped-host.png' });
  await page.click(`#ctable-body tr.group-row[data-group="${app.fleet!.hostnames[0]}"] .group-toggle`);
  await page.waitForFunction((n) => document.querySelectorAll('#ctable-body tr.crow').length === n, before);
  // Group by compose project.
  await page.selectOption('#group', 'project');
  await page.waitForFunction((p) => !!document.querySelector(`#ctable-body tr.group-row[data-group="${p}"]`), `${PREFIX}-proj`);
  const projRows = await page.evaluate((p) => {
    const head = document.querySelector(`#ctable-body tr.group-row[data-group="${p}"]`)!;
    const out: string[] = [];
    for (let n = head.nextElementSibling; n && !n.classList.contains('group-row'); n = n.nextElementSibling) out.push(n.querySelector('td.col-name')!.textContent!);
    return out;
  }, `${PREFIX}-proj`);
  assert.deepEqual(projRows.sort(), [`${PREFIX}-alpha`, `${PREFIX}-beta`]);
  await page.selectOption('#group', 'none');

  // A real container stopped: its row says so, live.
  await app.docker('stop', '-t', '1', ids.beta!);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .state`)?.textContent === 'exited', rowSel(ids.beta!), { timeout: 20_000 });

  // The toggle: cards, remembered after a reload; back to the table.
  await page.click('#view-toggle');
  await page.waitForFunction(() => document.body.dataset.view === 'cards' && document.querySelectorAll('.container-card').length >= 500);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.view === 'cards', undefined, { timeout: 20_000 });
  await page.click('#view-toggle');
  await page.waitForFunction(() => document.body.dataset.view === 'table');
  assert.equal(await page.evaluate(() => localStorage.getItem('dockwatch.view')), 'table');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('table: below 24 containers the cards are the default; from 24 the table', async () => {
  for (const [perHost, want] of [[10, 'cards'], [24, 'table']] as const) {
    const small = await startFleetApp({ tag: `${PREFIX}-s${perHost}`, hosts: 1, perHost, chromium: CHROMIUM });
    try {
      const page = await small.browser.newPage();
      await page.goto(small.url);
      await loginForm(page);
      await page.waitForFunction((n) => Number(document.body.dataset.rendered) === n, perHost, { timeout: 20_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.view), want, `${perHost} containers`);
    } finally {
      await small.close();
    }
  }
});

test('table: live updates keep scroll position, sort and focus; keyboard sorting and collapsing', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await openLive(page);
  // Sort by CPU (keyboard: Tab to the button, Enter) - the order changes with every sample.
  await page.focus('#ctable th.col-cpu .sort-btn');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#ctable th.col-cpu')?.getAttribute('aria-sort') === 'descending');
  await page.evaluate(() => window.scrollTo(0, 4000));
  // Focus a row's link far down the list.
  // A row on screen, far down the list (rows far off screen are painted when they come near).
  const target = (await page.evaluate(() => document.elementFromPoint(300, innerHeight / 2)?.closest('tr.crow')?.getAttribute('data-container-id'))) as string;
  assert.ok(target, 'a row in the middle of the screen');
  await page.evaluate((sel) => (document.querySelector(`${sel} a.name`) as HTMLElement).focus({ preventScroll: true }), rowSel(target));
  const cpuBefore = await page.textContent(`${rowSel(target)} td.col-cpu`);
  const orderBefore = (await columnTexts(page, 'name')).join('|');
  const scrollBefore = await page.evaluate(() => window.scrollY);
  // Batched per frame, rows updated in place: count the frames that touched the table and keep the row nodes.
  // A string, not a function: tsx's name helpers do not exist in the page.
  await page.evaluate(`(() => {
    const w = window;
    w.keptRow = document.querySelector(${JSON.stringify(rowSel(target))});
    w.mutFrames = new Set();
    w.frame = 0;
    const tick = () => { w.frame++; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    new MutationObserver(() => w.mutFrames.add(w.frame)).observe(document.getElementById('ctable-body'), { childList: true, subtree: true, characterData: true });
  })()`);
  // Several rounds of samples arrive.
  await page.waitForTimeout(3500);
  const after = await page.evaluate((sel) => ({
    scrollY: window.scrollY,
    focusedRow: document.activeElement?.closest('tr')?.getAttribute('data-container-id'),
    sort: document.querySelector('#ctable th.col-cpu')?.getAttribute('aria-sort'),
    cpu: document.querySelector(`${sel} td.col-cpu`)?.textContent,
  }), rowSel(target));
  const batching = await page.evaluate((sel) => {
    const w = window as unknown as { keptRow: Element | null; mutFrames: Set<number>; frame: number };
    return { same: w.keptRow === document.querySelector(sel), frames: w.frame, mutated: w.mutFrames.size };
  }, rowSel(target));
  assert.ok(batching.same, 'the row element was updated in place, not rebuilt');
  // 3.5 s of 1 s rounds from 5 agents (about 2,000 /ws messages): at most a few frames per round touch the table.
  assert.ok(batching.mutated <= 4 * 5 * 2, `table changed in ${batching.mutated} of ${batching.frames} frames`);
  assert.equal(after.scrollY, scrollBefore, 'scroll position kept');
  assert.equal(after.focusedRow, target, 'focus kept on the same row');
  assert.equal(after.sort, 'descending', 'sort kept');
  assert.notEqual(after.cpu, cpuBefore, 'the row was updated live');
  assert.notEqual((await columnTexts(page, 'name')).join('|'), orderBefore, 'rows moved to keep the CPU order');
  const cpus = (await onScreenTexts(page, 'cpu')).filter((t) => t !== '–').map((t) => Number.parseFloat(t));
  assert.ok(cpus.length > 10, `${cpus.length} rows on screen`);
  for (let i = 1; i < cpus.length; i++) assert.ok(cpus[i - 1]! >= cpus[i]!, 'still sorted after live updates');
  // Rows that were far off screen are up to date once scrolled to.
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForTimeout(300);
  const low = (await onScreenTexts(page, 'cpu')).filter((t) => t !== '–').map((t) => Number.parseFloat(t));
  assert.ok(low.length > 10);
  for (let i = 1; i < low.length; i++) assert.ok(low[i - 1]! >= low[i]!, `sorted at the bottom too: ${low.join(' ')}`);
  await page.evaluate((y) => window.scrollTo(0, y), scrollBefore);
  // Keyboard: group by host, then collapse a group with Enter on its header button.
  await page.selectOption('#group', 'host');
  await page.waitForSelector('#ctable-body tr.group-row');
  await page.focus(`#ctable-body tr.group-row[data-group="${app.fleet!.hostnames[1]}"] .group-toggle`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((h) => document.querySelector(`#ctable-body tr.group-row[data-group="${h}"] .group-toggle`)?.getAttribute('aria-expanded') === 'false', app.fleet!.hostnames[1]);
  // The focus survives the re-render that hid the group's rows.
  assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-group')), app.fleet!.hostnames[1]);
  await page.keyboard.press('Space');
  await page.waitForFunction((h) => document.querySelector(`#ctable-body tr.group-row[data-group="${h}"] .group-toggle`)?.getAttribute('aria-expanded') === 'true', app.fleet!.hostnames[1]);
  // Focus is visible (outline) on the focused control.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  assert.notEqual(outline, 'none');
  await ctx.close();
});

test('table: live over the batched /ws (one samples message per host per round), and over the old per-sample stream', async () => {
  for (const mode of ['batch', 'per-sample'] as const) {
    const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.addInitScript(`localStorage.setItem('dockwatch.ws', ${JSON.stringify(mode)})`);
    const page = await ctx.newPage();
    const frames: { url: string; type: string; n: number }[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      const m = JSON.parse(String(f.payload)) as { type: string; containers?: unknown[] };
      frames.push({ url: ws.url(), type: m.type, n: m.containers?.length ?? 1 });
    }));
    await openLive(page);
    const id = app.fleet!.ids[2]![7]!;
    // On screen, where a user would look at it.
    await page.evaluate((sel) => document.querySelector(sel)!.scrollIntoView({ block: 'center' }), rowSel(id));
    const before = await page.textContent(`${rowSel(id)} td.col-cpu`);
    const from = frames.length;
    await page.waitForTimeout(3000);
    await page.waitForFunction(({ sel, was }) => document.querySelector(sel)?.textContent !== was, { sel: `${rowSel(id)} td.col-cpu`, was: before }, { timeout: 10_000 });
    const live = frames.slice(from);
    const types = new Set(live.map((f) => f.type));
    if (mode === 'batch') {
      assert.ok(live.every((f) => f.url.endsWith('/ws?batch=1')), 'the page asks for batching');
      assert.ok(types.has('samples') && !types.has('sample'), [...types].join(','));
      const rounds = live.filter((f) => f.type === 'samples');
      // 5 agents of 100 (plus the real agent's few) for about 3 s: a message per host per round, not per container.
      assert.ok(rounds.length >= 5 && rounds.length <= 6 * 6, `${rounds.length} samples messages`);
      assert.ok(rounds.some((f) => f.n === 100), 'a message holds a host\'s whole round');
    } else {
      assert.ok(live.every((f) => !f.url.includes('batch')), 'the old stream when asked');
      assert.ok(types.has('sample') && !types.has('samples'), [...types].join(','));
    }
    await ctx.close();
  }
});

test('table: dark and light themes (system preference and the switch), screenshots at 1280 and 390 px', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
  const page = await ctx.newPage();
  await openLive(page);
  const failures: string[] = [];
  await shootBothThemes(page, 'web-table', (msg, ok) => { if (!ok) failures.push(msg); });
  assert.deepEqual(failures, []);
  // Contrast: text on background at least 4.5:1 in both themes.
  for (const scheme of ['dark', 'light'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    // A string, not a function: tsx's name helpers do not exist in the page.
    const ratio = (await page.evaluate(`(() => {
      const parse = (c) => (c.match(/\\d+(\\.\\d+)?/g) || []).slice(0, 3).map(Number);
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      const bg = lum(parse(getComputedStyle(document.body).backgroundColor));
      const r = (el) => { const l = lum(parse(getComputedStyle(el).color)); return (Math.max(l, bg) + 0.05) / (Math.min(l, bg) + 0.05); };
      return Math.min(r(document.querySelector('#ctable-body td.col-host')), r(document.querySelector('#shown-count')));
    })()`)) as number;
    assert.ok(ratio >= 4.5, `${scheme}: contrast ${ratio.toFixed(2)} < 4.5`);
  }
  // The switch overrides the system preference and is remembered.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.click('#theme-toggle');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(246, 248, 250)');
  await ctx.close();
});
