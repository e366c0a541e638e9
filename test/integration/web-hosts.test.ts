// Issue 15, point 5 (hosts overview): one row per host with its agent's state, last seen, CPU,
// memory, disk usage per mount, load and container counts; an agent that stops reporting is
// offline within 3 intervals. The real `dockwatch server` with the real agent (a real host
// sample, real disks) and synthetic agents over real gRPC, one of which goes quiet.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv } from '../helpers/env.js';
import { loginForm, shootBothThemes, startFleetApp, watchProblems, type FleetApp } from '../helpers/web-fleet.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const CHROMIUM = requireEnv('TEST_CHROMIUM');
const PREFIX = `whosts-${process.pid}`;
let app: FleetApp;

interface HostJson {
  id: string; hostname: string; status: string; last_seen: string; interval_ms: number; offline_after_ms: number;
  container_count: number; containers_by_state: Record<string, number>;
  sample: { disks: { mount: string; used_percent: number; total_bytes: number }[]; load1: number } | null;
}

before(async () => {
  app = await startFleetApp({ tag: PREFIX, dockerHost: DOCKER_HOST, chromium: CHROMIUM, hosts: 5, perHost: 30 });
  await app.docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--name', `${PREFIX}-one`, IMAGE, 'sh', '-c', 'while :; do sleep 1; done');
});

after(async () => {
  await app?.close();
  const left = await app?.docker('ps', '-aq', '--filter', `name=${PREFIX}`).catch(() => '');
  if (left) await app.docker('rm', '-f', ...left.split('\n'));
});

test('GET /api/hosts: status, counts by state and disks per mount (real host sample and synthetic)', async () => {
  const hosts = await app.get<HostJson[]>('/api/hosts');
  const real = hosts.find((h) => h.hostname === `${PREFIX}-real-host`)!;
  assert.ok(real, hosts.map((h) => h.hostname).join(','));
  assert.equal(real.status, 'online');
  assert.equal(real.offline_after_ms, 3 * real.interval_ms);
  assert.ok(real.sample!.disks.length >= 1, 'the real host collector reports mounts');
  assert.ok(real.sample!.disks.every((d) => d.total_bytes > 0 && d.used_percent >= 0 && d.used_percent <= 100));
  assert.ok((real.containers_by_state.running ?? 0) >= 1);
  const syn = hosts.find((h) => h.hostname === app.fleet!.hostnames[0])!;
  assert.equal(syn.container_count, 30);
  assert.equal(Object.values(syn.containers_by_state).reduce((a, b) => a + b, 0), 30);
  assert.deepEqual(syn.sample!.disks.map((d) => d.mount), ['/', '/var/lib/docker']);
});

test('hosts page: a row per host, disks, counts; a quiet agent is offline within 3 intervals, back online after', async () => {
  const ctx = await app.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const problems = watchProblems(page);
  await page.goto(`${app.url}/hosts.html`);
  await loginForm(page, 'vera');
  await page.waitForURL((u) => u.pathname === '/hosts.html');
  await page.waitForFunction(() => document.querySelectorAll('#host-list tr.host-row').length >= 6, undefined, { timeout: 20_000 });
  const row = (h: string) => `#host-list tr.host-row[data-hostname="${h}"]`;
  const h0 = app.fleet!.hostnames[0]!;
  assert.equal(await page.getAttribute(row(h0), 'data-status'), 'online');
  assert.match((await page.textContent(`${row(h0)} td.col-cpu`))!, /% of 8 CPUs/);
  assert.match((await page.textContent(`${row(h0)} td.col-mem`))!, /GiB \/ 32\.0 GiB/);
  assert.equal(await page.$$eval(`${row(h0)} .disk`, (d) => d.map((x) => x.getAttribute('data-mount')).join(',')), '/,/var/lib/docker');
  assert.match((await page.textContent(`${row(h0)} .disk[data-mount="/"] .disk-pct`))!, /40\.0% of 100 GiB/);
  assert.equal(await page.textContent(`${row(h0)} td.col-load`), '1.00 / 0.90 / 0.80');
  assert.match((await page.textContent(`${row(h0)} td.col-containers`))!, /^30 \(\d+ running, \d+ exited/);
  assert.match((await page.textContent(`${row(`${PREFIX}-real-host`)} td.col-seen`))!, /s ago \(every 1 s\)/);
  const failures: string[] = [];
  await shootBothThemes(page, 'web-hosts', (msg, ok) => { if (!ok) failures.push(msg); });
  assert.deepEqual(failures, []);

  // The agent of host 2 stops sending (its stream stays open): offline within 3 intervals (3 s),
  // measured from its last batch; the page polls every second.
  const h2 = app.fleet!.hostnames[2]!;
  app.fleet!.pause(2);
  const paused = Date.now();
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-status') === 'offline', row(h2), { timeout: 10_000 });
  const took = Date.now() - paused;
  assert.ok(took <= 3000 + 1000 + 1500, `offline after ${took} ms (3 intervals + the last batch's interval + one poll)`);
  assert.equal(await page.getAttribute(row(h0), 'data-status'), 'online', 'the others stay online');
  assert.match((await page.textContent('#host-count'))!, /1 offline/);
  await page.screenshot({ path: '.test-artifacts/web-hosts-offline.png' });
  app.fleet!.resume(2);
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-status') === 'online', row(h2), { timeout: 10_000 });
  assert.deepEqual(problems, []);
  await ctx.close();
});
