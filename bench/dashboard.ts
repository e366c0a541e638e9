// The live page under load, in real Chromium through the DevTools protocol: a real
// `dockwatch server` process fed by the synthetic fleet (500 containers on 5 hosts, 1 s, real
// gRPC). Per view (the table, and the card view it replaces as the comparison, same load,
// same run): first render after login, main-thread busy % (Performance.getMetrics
// TaskDuration over wall time), long tasks (PerformanceObserver 'longtask') in steady state,
// and the page's JS heap over the window (after a forced GC at both ends).
//
// BENCH_DASHBOARD_SECONDS: the table's window (default 600); BENCH_DASHBOARD_COMPARE_SECONDS:
// the card view's (default 60); BENCH_DASHBOARD_WARMUP_SECONDS: before steady state (default 15).
// BENCH_DASHBOARD_TRACE_SECONDS: after the table's window, a Chromium trace of that many seconds
// (default 10, 0 = none) summarised per task (bench/dashboard-trace.ts), the file kept in
// .bench-results/. BENCH_DASHBOARD_PER_SAMPLE_SECONDS: the table again with the page on the old
// one-message-per-sample /ws (default 60, 0 = skip), for the same-run comparison.
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { join } from 'node:path';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startFleet } from './dashboard-agents.js';
import { summariseTrace, TRACE_CATEGORIES, type TraceSummary } from './dashboard-trace.js';
import { freePort, runCli } from '../test/helpers/cli-process.js';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN_PW = 'bench-admin-pw';
const AGENT_TOKEN = 'bench-dashboard-agent-token-0123456789';

export interface ViewResult {
  view: 'table' | 'cards';
  /** How the page's /ws sends samples: one message per host per round, or one per sample. */
  ws: 'batch' | 'per-sample';
  containers: number;
  firstRenderMs: number;
  windowSec: number;
  busyPct: number;
  scriptPct: number;
  layoutPct: number;
  stylePct: number;
  longTasks: number;
  longestTaskMs: number;
  longTasksDuringLoad: number;
  heapStartMiB: number;
  heapEndMiB: number;
  heapMaxMiB: number;
  heapSamplesMiB: number[];
  domNodes: number;
  trace?: TraceSummary & { file: string };
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(m.map((x: { name: string; value: number }) => [x.name, x.value]));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

async function measureView(browser: Browser, url: string, view: 'table' | 'cards', o: { seconds: number; warmupSec: number; containers: number; ws?: 'batch' | 'per-sample'; traceSec?: number }): Promise<ViewResult> {
  const ws = o.ws ?? 'batch';
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript(`(() => {
    localStorage.setItem('dockwatch.view', ${JSON.stringify(view)});
    localStorage.setItem('dockwatch.ws', ${JSON.stringify(ws)});
    window.__longTasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); })
      .observe({ type: 'longtask', buffered: true });
  })()`);
  const page: Page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
  await page.goto(url);
  await page.waitForSelector('#login-form');
  await page.fill('#username', 'admin');
  await page.fill('#password', ADMIN_PW);
  const rows = view === 'table' ? '#ctable-body tr.crow' : '#containers .container-card';
  // First render: from the click to all containers on screen (polled every animation frame).
  const t0 = Date.now();
  await page.click('#login-submit');
  await page.waitForFunction(({ sel, n }) => document.querySelectorAll(sel).length >= n, { sel: rows, n: o.containers }, { polling: 'raf', timeout: 60_000 });
  const firstRenderMs = Date.now() - t0;
  await sleep(o.warmupSec * 1000);

  await cdp.send('HeapProfiler.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  const m0 = await metrics(cdp);
  const steadyFrom = (await page.evaluate('performance.now()')) as number;
  const heapSamples: number[] = [mib(m0.JSHeapUsedSize!)];
  const w0 = Date.now();
  const sampleEvery = Math.max(5, Math.floor(o.seconds / 20));
  while (Date.now() - w0 < o.seconds * 1000) {
    await sleep(Math.min(sampleEvery * 1000, o.seconds * 1000 - (Date.now() - w0)));
    heapSamples.push(mib((await metrics(cdp)).JSHeapUsedSize!));
  }
  const m1 = await metrics(cdp);
  const wall = (Date.now() - w0) / 1000;
  await cdp.send('HeapProfiler.collectGarbage');
  const m2 = await metrics(cdp);
  const tasks = (await page.evaluate('window.__longTasks')) as { start: number; duration: number }[];
  const steady = tasks.filter((t) => t.start >= steadyFrom);
  const shown = (await page.evaluate(`document.querySelectorAll(${JSON.stringify(rows)}).length`)) as number;
  if (shown < o.containers) throw new Error(`${view}: ${shown} of ${o.containers} shown at the end`);
  const pct = (k: string) => Math.round((((m1[k] ?? 0) - (m0[k] ?? 0)) / wall) * 1000) / 10;
  let trace: ViewResult['trace'];
  if (o.traceSec) {
    const dir = join(process.cwd(), '.bench-results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `dashboard-trace-${view}-${ws}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await browser.startTracing(page, { path: file, categories: TRACE_CATEGORIES });
    await sleep(o.traceSec * 1000);
    await browser.stopTracing();
    trace = { file, ...summariseTrace(file) };
  }
  const r: ViewResult = {
    view, ws, containers: shown, firstRenderMs, windowSec: Math.round(wall),
    busyPct: pct('TaskDuration'), scriptPct: pct('ScriptDuration'), layoutPct: pct('LayoutDuration'), stylePct: pct('RecalcStyleDuration'),
    longTasks: steady.length, longestTaskMs: Math.round(Math.max(0, ...steady.map((t) => t.duration))),
    longTasksDuringLoad: tasks.length - steady.length,
    heapStartMiB: mib(m0.JSHeapUsedSize!), heapEndMiB: mib(m2.JSHeapUsedSize!), heapMaxMiB: Math.max(...heapSamples),
    heapSamplesMiB: heapSamples, domNodes: m1.Nodes ?? 0, trace,
  };
  await ctx.close();
  return r;
}

export interface DashboardResult {
  load: { hosts: number; containers: number; intervalMs: number; transport: string };
  targets: { busyPct: number; longTaskMs: number; firstRenderMs: number; heap: string };
  views: ViewResult[];
  ackedBatches: number;
}

export async function runDashboard(): Promise<DashboardResult> {
  const seconds = Number(process.env.BENCH_DASHBOARD_SECONDS ?? 600);
  const compareSec = Number(process.env.BENCH_DASHBOARD_COMPARE_SECONDS ?? 60);
  const warmupSec = Number(process.env.BENCH_DASHBOARD_WARMUP_SECONDS ?? 15);
  const traceSec = Number(process.env.BENCH_DASHBOARD_TRACE_SECONDS ?? 10);
  const perSampleSec = Number(process.env.BENCH_DASHBOARD_PER_SAMPLE_SECONDS ?? 60);
  const dataDir = mkdtempSync(join(tmpdir(), 'dw-bench-dash-'));
  const port = await freePort();
  const grpcPort = await freePort();
  const server = runCli(['server'], {
    HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), DATA_DIR: dataDir, AGENT_TOKEN,
    JWT_SECRET: 'bench-dashboard-secret-0123456789-0123456789', ADMIN_PASSWORD: ADMIN_PW, LOG_LEVEL: 'warn',
  });
  let browser: Browser | undefined;
  const fleet = await (async () => {
    // LOG_LEVEL=warn hides "server started": wait for the port instead.
    for (let i = 0; i < 300; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/health`)).status < 600) break; } catch { await sleep(100); }
    }
    return startFleet({ address: `127.0.0.1:${grpcPort}`, token: AGENT_TOKEN, tag: `bench-${process.pid}`, hosts: 5, perHost: 100, intervalMs: 1000 });
  })();
  try {
    await sleep(3000);
    browser = await chromium.launch({ executablePath: process.env.TEST_CHROMIUM || '/usr/bin/chromium', args: FLAGS });
    const url = `http://127.0.0.1:${port}`;
    const views: ViewResult[] = [];
    views.push(await measureView(browser, url, 'table', { seconds, warmupSec, containers: 500, traceSec }));
    if (perSampleSec > 0) views.push(await measureView(browser, url, 'table', { seconds: perSampleSec, warmupSec, containers: 500, ws: 'per-sample', traceSec }));
    views.push(await measureView(browser, url, 'cards', { seconds: compareSec, warmupSec, containers: 500 }));
    const errors = fleet.errors();
    if (errors.length) throw new Error(`synthetic agents: ${errors.join('; ')}`);
    const result: DashboardResult = {
      load: { hosts: 5, containers: 500, intervalMs: 1000, transport: 'gRPC StreamMetrics, one stream per host' },
      targets: { busyPct: 20, longTaskMs: 50, firstRenderMs: 1000, heap: 'flat' },
      views,
      ackedBatches: fleet.acked(),
    };
    printDashboard(result);
    return result;
  } finally {
    await browser?.close();
    await fleet.stop();
    await server.stop('SIGTERM');
  }
}

export function printDashboard(r: DashboardResult): void {
  console.log(`\ndashboard: ${r.load.containers} containers on ${r.load.hosts} hosts every ${r.load.intervalMs} ms over ${r.load.transport}`);
  const rows = r.views.map((v) => ({
    view: v.view, ws: v.ws, 'first render ms': v.firstRenderMs, 'window s': v.windowSec, 'busy %': v.busyPct, 'script %': v.scriptPct,
    'layout %': v.layoutPct, 'style %': v.stylePct, 'long tasks (steady)': v.longTasks, 'longest ms': v.longestTaskMs,
    'heap MiB start→end (max)': `${v.heapStartMiB} → ${v.heapEndMiB} (${v.heapMaxMiB})`, 'DOM nodes': v.domNodes,
  }));
  console.table(rows);
  for (const v of r.views) {
    if (!v.trace) continue;
    const { file, ...t } = v.trace;
    console.log(`trace of the ${v.view} (${v.ws}), ${file}:\n${JSON.stringify(t, null, 2)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runDashboard().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
