// The alerts and audit pages in real headless Chromium, on the lead's real buildApp with the
// real auth, CSP, alert routes and control routes, a real createControl() and a real alert
// engine (fed batches that make `stopped` fire). Log in as admin, get a field error for an
// until-before-from silence, create one through the form, acknowledge a firing alert, see a new
// alert arrive over /ws, expire the silence, then read the audit trail; a viewer gets no buttons
// and "admins only" on the audit page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN, type ControlApp, buildControlApp } from '../helpers/control-app.js';
import { requireEnv } from '../helpers/env.js';

const ARTIFACTS = '.test-artifacts';
const HOUR = 3_600_000;
let browser: Browser;
let c: ControlApp;
let url: string;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  c = await buildControlApp();
  await c.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(c.app.server.address() as { port: number }).port}`;
  browser = await chromium.launch({
    executablePath: requireEnv('TEST_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await c?.close();
});

/** A page that records CSP violations, script errors and failed requests (those must stay as expected). */
async function newPage(): Promise<{ ctx: BrowserContext; page: Page; problems: string[]; failed: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
  const page = await ctx.newPage();
  const problems: string[] = [];
  const failed: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  return { ctx, page, problems, failed };
}

const pad = (n: number): string => String(n).padStart(2, '0');
/** What a datetime-local input holds for this instant (the browser runs in this process's time zone). */
const localInput = (ms: number): string => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const row = (id: string): string => `.alert-row[data-alert-id="${id.replace(/"/g, '\\"')}"]`;

test('admin: field error, silence through the form, acknowledge, live update, expire, audit trail', async () => {
  const web = await c.fire('web-1', { team: 'ops' });
  const db = await c.fire('db-1');
  const { ctx, page, problems, failed } = await newPage();

  await page.goto(url);
  await page.fill('#username', ADMIN.username);
  await page.fill('#password', ADMIN.password);
  await page.click('#login-submit');
  await page.waitForSelector('#live-view:not([hidden])');
  // The live page links to the new pages.
  await page.click('nav a[href="/alerts.html"]');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  assert.equal(await page.textContent('#whoami'), 'admin (admin)');
  assert.equal(await page.textContent('#firing-count'), '2');
  assert.equal(await page.getAttribute(row(web.id), 'data-state'), 'firing');
  assert.equal(await page.textContent(`${row(web.id)} .alert-state`), 'firing');
  // The rule select is filled from GET /api/alert-rules.
  const ruleOptions = await page.$$eval('#s-rule option', (os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.ok(ruleOptions.includes('stopped') && ruleOptions.includes('cpu'), ruleOptions.join(','));

  // Until before from: the API's 400 shows beside "Until", and nothing is created.
  await page.fill('#s-container', 'web-*');
  await page.selectOption('#s-rule', 'stopped');
  await page.fill('#s-from', localInput(Date.now() + 2 * HOUR));
  await page.fill('#s-until', localInput(Date.now() + HOUR));
  await page.fill('#s-comment', 'deploying web');
  await page.click('#s-submit');
  const untilError = '.field-error[data-for="s-until"]';
  await page.waitForSelector(`${untilError}:not([hidden])`);
  assert.equal(await page.textContent(untilError), 'must be after starts_at');
  assert.equal(await page.getAttribute('#s-until', 'aria-invalid'), 'true');
  assert.equal(c.store.silences.size, 0);
  await page.screenshot({ path: `${ARTIFACTS}/web-control-field-error.png`, fullPage: true });

  // Fixed: from now until in two hours. The silence lists, and the web alert reads silenced.
  await page.fill('#s-from', '');
  await page.fill('#s-until', localInput(Date.now() + 2 * HOUR));
  await page.click('#s-submit');
  await page.waitForSelector('.silence-row[data-status="active"]');
  assert.equal(await page.isHidden(`${untilError}`), true, 'the old error is cleared');
  assert.equal(c.store.silences.size, 1);
  const silence = [...c.store.silences.values()][0]!;
  assert.deepEqual(silence.matchers, [{ name: 'container', op: '=', value: 'web-*' }, { name: 'alertname', op: '=', value: 'stopped' }]);
  assert.equal(silence.createdBy, 'admin');
  assert.match(await page.textContent(`.silence-row[data-silence-id="${silence.id}"] .matchers`) ?? '', /container="web-\*", alertname="stopped"/);
  await page.waitForSelector(`${row(web.id)}[data-state="silenced"]`);
  assert.equal(await page.getAttribute(row(db.id), 'data-state'), 'firing');

  // Acknowledge db-1 with a comment (the prompt).
  page.once('dialog', (d) => { assert.equal(d.type(), 'prompt'); void d.accept('restarting it by hand'); });
  await page.click(`${row(db.id)} .ack-btn`);
  await page.waitForSelector(`${row(db.id)}[data-state="acknowledged"]`);
  assert.match(await page.textContent(`${row(db.id)} .alert-state`) ?? '', /^acknowledged by admin at .+“restarting it by hand”$/);
  assert.equal(await page.$(`${row(db.id)} .ack-btn`), null, 'no second button');
  assert.equal((await c.control.acknowledgements([db.id])).get(db.id)?.by, 'admin');

  // A new alert reaches the page over /ws, without a reload.
  await page.waitForFunction(() => document.getElementById('conn')?.dataset.status === 'live');
  const cache = await c.fire('cache-1');
  await page.waitForSelector(row(cache.id), { timeout: 10_000 });
  assert.equal(await page.textContent('#firing-count'), '3');
  // ... and when it resolves it moves to "Recently resolved".
  await c.recover('cache-1');
  await page.waitForSelector(row(cache.id), { state: 'detached', timeout: 10_000 });
  await page.waitForSelector(`.resolved-row[data-alert-id="${cache.id.replace(/\|firing$/, '|resolved')}"]`);
  assert.equal(await page.textContent('#firing-count'), '2');
  await page.screenshot({ path: `${ARTIFACTS}/web-control-alerts.png`, fullPage: true });

  // Expire the silence (a confirm); the web alert fires unmuted again.
  page.once('dialog', (d) => { assert.equal(d.type(), 'confirm'); void d.accept(); });
  await page.click(`.silence-row[data-silence-id="${silence.id}"] .expire-btn`);
  await page.waitForSelector(`.silence-row[data-silence-id="${silence.id}"]`, { state: 'detached' });
  await page.waitForSelector(`${row(web.id)}[data-state="firing"]`);
  await page.click('.silence-filter[data-state="expired"]');
  await page.waitForSelector(`.silence-row[data-silence-id="${silence.id}"][data-status="expired"]`);

  // The audit trail: the create, ack and expire rows, by admin.
  await page.click('nav a[href="/audit.html"]');
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  const rows = await page.$$eval('.audit-row', (rs) => rs.map((r) => ({
    action: (r as HTMLElement).dataset.action, actor: (r as HTMLElement).dataset.actor,
    target: r.querySelector('.target')?.textContent, details: r.querySelector('.details')?.textContent,
  })));
  const create = rows.find((r) => r.action === 'silence.create');
  assert.ok(create, JSON.stringify(rows));
  assert.equal(create.actor, 'admin');
  assert.equal(create.target, silence.id);
  assert.match(create.details ?? '', /container="web-\*"/);
  const ack = rows.find((r) => r.action === 'alert.ack');
  assert.deepEqual([ack?.actor, ack?.target], ['admin', db.id]);
  assert.match(ack?.details ?? '', /restarting it by hand/);
  assert.ok(rows.some((r) => r.action === 'silence.expire' && r.actor === 'admin'));
  await page.screenshot({ path: `${ARTIFACTS}/web-control-audit.png`, fullPage: true });

  // Filter by action prefix.
  await page.fill('#f-action', 'alert.');
  await page.click('#f-apply');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.audit-row')).every((r) => (r as HTMLElement).dataset.action === 'alert.ack'));
  assert.equal(await page.$$eval('.audit-row', (rs) => rs.length), 1);
  assert.equal(new URL(page.url()).searchParams.get('action'), 'alert.');
  await page.fill('#f-action', '');
  await page.fill('#f-actor', 'nobody');
  await page.click('#f-apply');
  await page.waitForSelector('#audit-empty:not([hidden])');

  assert.deepEqual(problems, []);
  // Only the deliberate until-before-from attempt failed.
  assert.deepEqual(failed, ['400 POST /api/silences']);
  await ctx.close();
});

test('viewer: sees the alerts and silences without buttons or form; the audit page says admins only', async () => {
  const { ctx, page, problems, failed } = await newPage();
  const token = c.token('vera', 'viewer');
  await page.addInitScript((t) => { localStorage.setItem('dockwatch.token', t); }, token);
  await page.goto(`${url}/alerts.html`);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  assert.equal(await page.textContent('#whoami'), 'vera (viewer)');
  assert.ok(await page.$$eval('.alert-row', (rs) => rs.length) >= 2);
  assert.equal(await page.$('.ack-btn'), null);
  assert.equal(await page.isHidden('#new-silence'), true);
  assert.equal(await page.isVisible('#viewer-note'), true);
  await page.click('.silence-filter[data-state=""]');
  await page.waitForSelector('.silence-row');
  assert.equal(await page.$('.expire-btn'), null);
  await page.screenshot({ path: `${ARTIFACTS}/web-control-viewer-alerts.png`, fullPage: true });

  await page.goto(`${url}/audit.html`);
  await page.waitForFunction(() => document.body.dataset.loaded === 'true');
  assert.equal(await page.isVisible('#admins-only'), true);
  assert.match(await page.textContent('#admins-only') ?? '', /admins only/);
  assert.equal(await page.isHidden('#audit-view'), true);
  assert.deepEqual(problems, []);
  assert.deepEqual(failed, [], 'the viewer page never calls an admin route');
  await ctx.close();

  // Not logged in: both pages send you to the login.
  const anon = await newPage();
  await anon.page.goto(`${url}/audit.html`);
  await anon.page.waitForSelector('#login-form');
  assert.equal(new URL(anon.page.url()).pathname, '/');
  await anon.ctx.close();
});
