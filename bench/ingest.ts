// Ingest benchmark (issue 3): simulated agents (2 processes, pre-encoded batches) stream over
// real gRPC into the server (a child process: gRPC server + ingest use case + store), which
// writes to a real local InfluxDB: open loop at 60 % and 40 % of the ceiling, then a closed
// loop (saturation: what InfluxDB stores is the figure, since acks run ahead into the spool);
// then a null store (the transport's own cost) and the embedded store. In the
// same run: the InfluxDB ceiling (4 writers posting pre-built line protocol, 5,000-point
// batches, 9 fields per point, every point new, to /write), the same with 1,000-point
// batches, influxd alone paced at 60 % of the ceiling (its own write latency), the adapters on their own (writeBatch called directly), and a 24 h history query at
// auto step on each store. CPU of the server, influxd and the whole machine is sampled over
// each measured window.
//
// Run alone: node --import tsx bench/ingest.ts [seconds]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInfluxStore, rollupStatement } from '../src/infrastructure/influx/store.js';
import { createSqliteStore } from '../src/infrastructure/sqlite/store.js';
import { autoStepMs } from '../src/domain/rollup.js';
import type { Logger } from '../src/application/ports.js';
import type { MetricsStore } from '../src/application/store-ports.js';
import { containerIds, containerSample, makeBatch } from '../test/helpers/storage-batches.js';
import { startInfluxd } from '../test/helpers/storage-influxd.js';

export interface IngestBenchOptions {
  /** Seconds per measured phase of influxd alone and of the adapters (default 10). */
  seconds?: number;
  /**
   * Seconds measured per gRPC phase (default 20), after `warmupSeconds` (default 5): long enough
   * that InfluxDB falling behind shows as a growing spool backlog (stored below acked), which the
   * report gives beside the acked rate.
   */
  grpcSeconds?: number;
  warmupSeconds?: number;
  /** Simulated agents (default 40, in 2 processes). */
  agents?: number;
  containersPerBatch?: number;
  /** Unacked batches per agent in the saturation phase (default 2). */
  window?: number;
  /** Use this InfluxDB instead of starting a private influxd. */
  influxUrl?: string;
  print?: (line: string) => void;
}

export interface Rate { containerSamplesPerSec: number; pointsPerSec: number; p50Ms: number; p95Ms: number; p99Ms: number }
/** A run over gRPC; reusedBatches > 0 means the pre-encoded pool ran out and points were written twice. */
export type GrpcRate = Rate & {
  serverRssMaxMb: number; serverCpuPercent: number; backlog: number; reusedBatches: number;
  /** Batches each agent had acked in the window, and every batch acked (warm-up included). */
  perAgentAcked: number[]; ackedBatchesAll: number;
  /** CPU of the watched processes (% of one core) and of the whole machine (% of one core, so 200 = both cores busy). */
  watchedCpuPercent: Record<string, number>; machineCpuPercent: number;
  /** CPU of the load-generator processes together over the window (% of one core). */
  generatorCpuPercent: number;
  /**
   * Points/s that reached the database over the window (acked points are durable in the
   * spool first), and the spool backlog (records not yet written) at its start and end: a
   * backlog that grows means the database does not keep up, whatever the ack rate.
   */
  store?: { storedPointsPerSec: number | null; spoolRecordsStart: number; spoolRecordsEnd: number; spoolMbEnd: number };
};
export interface IngestBenchResult {
  machine: Record<string, string | number>;
  ceilingPointsPerSec: number;
  ceilingInfluxdCpuPercent: number;
  /** The ceiling with 1,000-point requests: influxd's cost per point with small requests. */
  ceilingSmallRequests: { pointsPerSec: number; influxdCpuPercent: number };
  /** influxd alone, paced at 60 % of the ceiling with 5,000-point requests: its own write latency at the target rate. */
  influxdAlonePaced: { pointsPerSec: number; p50Ms: number; p95Ms: number; influxdCpuPercent: number };
  /** influxd CPU per point: writing the ceiling's points, and reading them once for the 1-minute rollups. */
  rollupCost: { points: number; writePointsPerCpuSec: number; rollupPointsPerCpuSec: number; rollupWallMs: number };
  adapterInflux: Rate;
  adapterSqlite: Rate;
  grpcInflux: GrpcRate;
  grpcInfluxPaced: Array<GrpcRate & { targetPointsPerSec: number; shareOfCeiling: number }>;
  grpcSqlite: GrpcRate;
  /** The same gRPC load into a store that resolves at once: what gRPC + ingest cost alone. */
  grpcNullStore: GrpcRate;
  history24hMs: { influx: number; sqlite: number; sqliteRawTier: number };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

function rate(samples: number, points: number, seconds: number, lat: number[]): Rate {
  return {
    containerSamplesPerSec: Math.round(samples / seconds), pointsPerSec: Math.round(points / seconds),
    p50Ms: round(pct(lat, 50)), p95Ms: round(pct(lat, 95)), p99Ms: round(pct(lat, 99)),
  };
}

function machine(influxVersion: string): Record<string, string | number> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length,
    memGb: round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, influxd: influxVersion,
  };
}

/** utime+stime of a process in clock ticks (100 Hz on Linux). */
export function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------- (a) the InfluxDB ceiling ----------
/**
 * Pre-built line protocol for the ceiling: 60 bodies of `perRequest` points, 9 fields, `series`
 * series (1,000 by default; it must divide 60 x perRequest). body(n) gives the n-th request's
 * body; every point sent is a new one, as every sample an agent sends is: a body is reused with
 * its timestamps moved forward one cycle's span each cycle, patched in place (13-digit ms
 * timestamps at known offsets).
 */
function ceilingBodies(perRequest: number, series = 1000): (n: number) => Buffer {
  const ids = containerIds('ceil', series);
  const base = Date.now() - 6 * 3_600_000;
  const roundsPerCycle = (60 * perRequest) / series; // one point per series and second, per round
  const batches: Array<{ body: Buffer; tsOffsets: number[]; ts: number[] }> = [];
  for (let b = 0; b < 60; b++) {
    const lines: string[] = [];
    const ts: number[] = [];
    for (let k = 0; k < perRequest; k++) {
      const g = b * perRequest + k;
      const id = ids[g % series]!;
      const t = base + Math.floor(g / series) * 1000;
      ts.push(t);
      lines.push(`container,container_id=${id},container_name=web-${id.slice(0, 6)},host=bench-host,image=nginx:1.27 `
        + `blk_read_bytes=${k * 4096},blk_write_bytes=${k * 8192},cpu_percent=${(k % 100) + 0.5},mem_limit_bytes=536870912,`
        + `mem_percent=${(k % 50) + 0.25},mem_usage_bytes=${50_000_000 + k},net_rx_bytes=${k * 1000},net_tx_bytes=${k * 500},pids=${k % 7} ${t}`);
    }
    const body = Buffer.from(lines.join('\n'));
    const tsOffsets: number[] = [];
    let off = 0;
    for (const line of lines) { off += Buffer.byteLength(line); tsOffsets.push(off - 13); off += 1; }
    batches.push({ body, tsOffsets, ts });
  }
  return (n) => {
    const b = batches[n % batches.length]!;
    const cycle = Math.floor(n / batches.length);
    if (cycle > 0) {
      for (let i = 0; i < b.ts.length; i++) b.body.write(String(b.ts[i]! + cycle * roundsPerCycle * 1000), b.tsOffsets[i]!, 'latin1');
    }
    return b.body;
  };
}

async function postCeiling(url: string, db: string, body: Buffer): Promise<void> {
  const r = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: body as Uint8Array<ArrayBuffer> });
  if (r.status !== 204) throw new Error(`ceiling write: HTTP ${r.status} ${await r.text()}`);
}

/** Points/s influxd takes from 4 writers posting pre-built line protocol, `perRequest`-point batches (5,000 by default) over `series` series, to /write. */
export async function ceiling(url: string, seconds: number, perRequest = 5000, into?: string, series = 1000): Promise<number> {
  const db = into ?? `bench_ceiling_${Date.now()}`;
  await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${db}"`)}`, { method: 'POST' });
  const body = ceilingBodies(perRequest, series);
  let points = 0;
  let next = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (Date.now() < end) {
      await postCeiling(url, db, body(next++));
      points += perRequest;
    }
  }));
  const secs = (Date.now() - t0) / 1000;
  if (!into) await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${db}"`)}`, { method: 'POST' });
  return Math.round(points / secs);
}

/**
 * What rolling points up costs influxd next to what writing them cost: the ceiling's writers fill
 * a database, then the adapter's own rollup statement (the one a continuous query ran every
 * minute before decision 005, and backfills still run) reads them all once. influxd CPU-seconds
 * of each, from /proc.
 */
export async function rollupQueryCost(url: string, pid: number | undefined, seconds: number, print: (l: string) => void): Promise<{ points: number; writePointsPerCpuSec: number; rollupPointsPerCpuSec: number; rollupWallMs: number }> {
  const db = `bench_rollup_${Date.now()}`;
  const cpu = (): number => (pid ? cpuTicks(pid) / 100 : NaN);
  const c0 = cpu();
  const t0 = Date.now();
  const rate = await ceiling(url, seconds, 5000, db);
  const points = Math.round((rate * (Date.now() - t0)) / 1000);
  const writeCpu = cpu() - c0;
  await settle(pid, print);
  const c1 = cpu();
  const w0 = performance.now();
  const r = await fetch(`${url}/query?db=${db}&q=${encodeURIComponent(rollupStatement('container', 0, Date.now() + 86_400_000))}`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`rollup query: HTTP ${r.status} ${await r.text()}`);
  const body = await r.text();
  if (/"error"/.test(body)) throw new Error(`rollup query: ${body.slice(0, 300)}`);
  const rollupWallMs = Math.round(performance.now() - w0);
  const rollupCpu = cpu() - c1;
  await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${db}"`)}`, { method: 'POST' });
  return { points, writePointsPerCpuSec: Math.round(points / writeCpu), rollupPointsPerCpuSec: Math.round(points / rollupCpu), rollupWallMs };
}

/**
 * influxd alone at a fixed rate: the same pre-built requests sent on a schedule (open loop, as
 * many in flight as it takes), latency from each request's due time to its answer. What InfluxDB
 * itself answers in at the rate the server is asked to carry.
 */
export async function pacedCeiling(url: string, seconds: number, pointsPerSec: number, perRequest = 5000): Promise<{ pointsPerSec: number; p50Ms: number; p95Ms: number }> {
  const db = `bench_paced_${Date.now()}`;
  await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${db}"`)}`, { method: 'POST' });
  const body = ceilingBodies(perRequest);
  const lat: number[] = [];
  const sends: Promise<void>[] = [];
  const intervalMs = (1000 * perRequest) / pointsPerSec;
  const n = Math.max(1, Math.round((seconds * 1000) / intervalMs));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    sends.push(postCeiling(url, db, body(i)).then(() => { lat.push(performance.now() - due); }));
  }
  await Promise.all(sends);
  const secs = (performance.now() - t0) / 1000;
  await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${db}"`)}`, { method: 'POST' });
  return { pointsPerSec: Math.round((n * perRequest) / secs), p50Ms: round(pct(lat, 50)), p95Ms: round(pct(lat, 95)) };
}

// ---------- (b, c) an adapter on its own ----------
async function adapterRate(store: MetricsStore, seconds: number, callers: number, perBatch: number): Promise<Rate> {
  const lat: number[] = [];
  let samples = 0;
  let points = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  const base = Date.now() - 6 * 3_600_000;
  await Promise.all(Array.from({ length: callers }, async (_, a) => {
    const ids = containerIds(`ad${a}x`, perBatch);
    for (let i = 0; Date.now() < end; i++) {
      const b = makeBatch(`bench-ad-${a}`, `bench-host-${a}`, ids, base + i * 1000, i);
      const s = performance.now();
      await store.writeBatch(b);
      lat.push(performance.now() - s);
      samples += perBatch;
      points += perBatch + 1;
    }
  }));
  return rate(samples, points, (Date.now() - t0) / 1000, lat);
}

// ---------- (d) over real gRPC, server in a child process ----------
/** The bench server's latest once-a-second report of its store (bench/ingest-server.ts). */
export interface StoreStats { atMs: number; linesWritten: number | null; spoolBatches: number; spoolBytes: number }

/** DW_BENCH_PROF=dir: the server and agent processes write CPU profiles there. */
const profileFlags = (): string[] => (process.env.DW_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DW_BENCH_PROF}`] : []);

export async function startServer(cfg: Record<string, unknown>): Promise<{ child: ChildProcess; port: number; stats: () => StoreStats | undefined }> {
  const child = spawn(process.execPath, [...profileFlags(), '--import', 'tsx', path.join(here, 'ingest-server.ts'), JSON.stringify(cfg)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start')), 30_000);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const m = /\{"port":(\d+)\}/.exec(buf);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  let latest: StoreStats | undefined;
  let rest = '';
  child.stdout!.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l.startsWith('{"stats"')) latest = (JSON.parse(l) as { stats: StoreStats }).stats;
  });
  return { child, port, stats: () => latest };
}

export async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

interface GrpcRunOptions {
  agents: number; perBatch: number; seconds: number; warmupMs: number; window: number; batchesPerSec?: number;
  /** Other processes (influxd) whose CPU is measured over the same window. */
  watch?: Record<string, number | undefined>;
  /** Closed loop: batches per second the agents pre-encode for (all agents together). */
  maxBatchesPerSec?: number;
  /** The server's store report (startServer().stats). */
  stats?: () => StoreStats | undefined;
  /** AGENT_TOKEN of a real server. */
  token?: string;
  /** Containers per agent at 95 % CPU (bench/ingest-agents.ts). */
  hotContainers?: number;
  /** Prefix of the agent ids, for runs side by side (replicas): the time alone may be the same. */
  tagPrefix?: string;
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineTicks(): { busy: number; all: number } {
  const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const all = v.reduce((a, b) => a + b, 0);
  return { busy: all - idle, all };
}

/** Agents in `procs` child processes (bench/ingest-agents.ts); the server's CPU and RSS sampled from /proc. */
export async function grpcRun(port: number, pid: number, o: GrpcRunOptions, procs = 2): Promise<GrpcRate> {
  const warmupMs = o.warmupMs;
  let rssMax = 0;
  let rssTimer: ReturnType<typeof setInterval> | undefined;
  let cpu0 = 0;
  let c0 = 0;
  let cpuStart: ReturnType<typeof setTimeout> | undefined;
  const children: ChildProcess[] = [];
  const readies: Promise<void>[] = [];
  const outs = Promise.all(Array.from({ length: procs }, (_, k) => new Promise<{ acked: number; secs: number; backlog: number; reused: number; failed: string; lat: number[]; perAgent?: number[]; ackedAll?: number; cpuPercent?: number }>((resolve, reject) => {
    const cfg = {
      port, agents: Math.ceil(o.agents / procs), perBatch: o.perBatch, seconds: o.seconds, warmupMs, window: o.window,
      ...(o.batchesPerSec ? { batchesPerSec: o.batchesPerSec / procs } : {}),
      ...(o.maxBatchesPerSec ? { maxBatchesPerSec: o.maxBatchesPerSec / procs } : {}), tag: `${o.tagPrefix ?? ''}p${k}t${Date.now() % 1_000_000}`,
      ...(o.token ? { token: o.token } : {}), ...(o.hotContainers ? { hotContainers: o.hotContainers } : {}),
    };
    const child = spawn(process.execPath, [...profileFlags(), '--import', 'tsx', path.join(here, 'ingest-agents.ts'), JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    readies.push(new Promise<void>((ready) => {
      child.stdout!.on('data', (d: string) => { buf += d; if (buf.includes('"ready":true')) ready(); });
    }));
    child.once('exit', () => {
      try { resolve(JSON.parse(buf.trim().split('\n').pop()!)); } catch (e) { reject(new Error(`agents process: ${String(e)} ${buf.slice(0, 200)}`)); }
    });
  })));
  // Agents generate and encode their batches first; the clock starts when all are ready.
  await Promise.race([Promise.all(readies), outs]);
  for (const c of children) c.stdin!.write('go\n');
  rssTimer = setInterval(() => { try { rssMax = Math.max(rssMax, rssMb(pid)); } catch { /* exited */ } }, 250);
  const watched = Object.entries(o.watch ?? {}).filter((e): e is [string, number] => e[1] !== undefined);
  let w0: number[] = [];
  let m0 = { busy: 0, all: 0 };
  let s0: StoreStats | undefined;
  cpuStart = setTimeout(() => {
    cpu0 = cpuTicks(pid); c0 = Date.now(); w0 = watched.map(([, p]) => cpuTicks(p)); m0 = machineTicks(); s0 = o.stats?.();
  }, warmupMs);
  const results = await outs;
  const s1 = o.stats?.();
  const cpuSecs = (Date.now() - c0) / 1000;
  const cpuPct = ((cpuTicks(pid) - cpu0) / 100 / cpuSecs) * 100;
  const watchedCpuPercent = Object.fromEntries(watched.map(([name, p], i) => [name, round(((cpuTicks(p) - w0[i]!) / 100 / cpuSecs) * 100)]));
  const m1 = machineTicks();
  const machineCpuPercent = round(((m1.busy - m0.busy) / (m1.all - m0.all)) * os.cpus().length * 100);
  clearTimeout(cpuStart);
  clearInterval(rssTimer);
  const failed = results.map((x) => x.failed).filter(Boolean);
  if (failed.length > 0) throw new Error(`an agent stream failed: ${failed.join('; ')}`);
  const lat = results.flatMap((x) => x.lat);
  const acked = results.reduce((a, x) => a + x.acked, 0);
  const secs = Math.max(...results.map((x) => x.secs));
  return {
    ...rate(acked * o.perBatch, acked * (o.perBatch + 1), secs, lat),
    serverRssMaxMb: round(rssMax), serverCpuPercent: round(cpuPct), backlog: results.reduce((a, x) => a + x.backlog, 0),
    reusedBatches: results.reduce((a, x) => a + x.reused, 0),
    watchedCpuPercent, machineCpuPercent,
    generatorCpuPercent: round(results.reduce((a, x) => a + (x.cpuPercent ?? 0), 0)),
    perAgentAcked: results.flatMap((x) => x.perAgent ?? []),
    ackedBatchesAll: results.reduce((a, x) => a + (x.ackedAll ?? 0), 0),
    ...(s0 && s1 ? {
      store: {
        storedPointsPerSec: s0.linesWritten === null || s1.linesWritten === null || s1.atMs === s0.atMs ? null
          : Math.round((s1.linesWritten - s0.linesWritten) / ((s1.atMs - s0.atMs) / 1000)),
        spoolRecordsStart: s0.spoolBatches, spoolRecordsEnd: s1.spoolBatches, spoolMbEnd: round(s1.spoolBytes / 1e6),
      },
    } : {}),
  };
}

/** Wait until influxd is quiet (compactions after a heavy phase would slow the next one). */
async function settle(pid: number | undefined, print: (l: string) => void): Promise<void> {
  if (!pid) return;
  const start = Date.now();
  while (Date.now() - start < 90_000) {
    const a = cpuTicks(pid);
    await sleep(2000);
    const pctCpu = (cpuTicks(pid) - a) / 2; // ticks per 2 s -> % of a core
    if (pctCpu < 10) { print(`influxd settled after ${Math.round((Date.now() - start) / 1000)} s`); return; }
  }
  print('influxd still busy after 90 s; going on');
}

// ---------- history: 24 h at auto step ----------
async function history24h(store: MetricsStore, before?: () => void | Promise<void>): Promise<number> {
  const id = containerIds('hist24', 1)[0]!;
  const now = Date.now();
  const from = now - 86_400_000;
  for (let t = from; t < now; t += 5000 * 1000) {
    const containers = Array.from({ length: Math.min(5000, Math.floor((now - t) / 1000)) }, (_, k) => containerSample(id, t + k * 1000, k));
    await store.writeBatch({ agentId: 'hist', hostname: 'hist-host', sequence: t, timestampMs: t, host: null, containers, events: [], complete: false, intervalMs: 1000 });
  }
  await before?.();
  const step = autoStepMs(86_400_000);
  const times: number[] = [];
  let n = 0;
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    n = (await store.queryContainer({ containerId: id, fromMs: from, toMs: now, stepMs: step })).length;
    times.push(performance.now() - s);
  }
  if (n < 700) throw new Error(`24 h query returned only ${n} points`);
  return round(pct(times, 50), 2);
}

export async function runIngest(opts: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 10;
  const grpcSeconds = opts.grpcSeconds ?? 20;
  const warmupMs = (opts.warmupSeconds ?? 5) * 1000;
  const agents = opts.agents ?? 40;
  const perBatch = opts.containersPerBatch ?? 50;
  const window = opts.window ?? 2;
  const influxd = opts.influxUrl ? undefined : await startInfluxd();
  const url = opts.influxUrl ?? influxd!.url;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-bench-'));
  try {
    const version = (await fetch(`${url}/ping`)).headers.get('x-influxdb-version') ?? 'unknown';
    const m = machine(version);
    print(`machine: ${JSON.stringify(m)}`);

    // influxd's own CPU per 1,000 points/s, with big and with small requests (what a
    // moderate stream gives it): it explains where the shared 2 cores go.
    const influxdCpu = async (f: () => Promise<number>): Promise<{ pointsPerSec: number; influxdCpuPercent: number }> => {
      const pid = influxd?.pid();
      const c0 = pid ? cpuTicks(pid) : 0;
      const t0 = Date.now();
      const pointsPerSec = await f();
      return { pointsPerSec, influxdCpuPercent: pid ? round(((cpuTicks(pid) - c0) / 100 / ((Date.now() - t0) / 1000)) * 100) : NaN };
    };
    const ceilRun = await influxdCpu(() => ceiling(url, seconds));
    const ceil = ceilRun.pointsPerSec;
    print(`(a) InfluxDB ceiling: ${ceil} points/s (4 writers, 5,000-point batches, 9 fields, /write, every point new); influxd ${ceilRun.influxdCpuPercent} % CPU`);
    await settle(influxd?.pid(), print);
    const smallRequests = await influxdCpu(() => ceiling(url, Math.min(seconds, 8), 1000));
    print(`(a') the same with 1,000-point batches: ${smallRequests.pointsPerSec} points/s; influxd ${smallRequests.influxdCpuPercent} % CPU`);
    await settle(influxd?.pid(), print);
    let pacedLatency = { p50Ms: NaN, p95Ms: NaN };
    const alonePaced = await influxdCpu(async () => {
      const r = await pacedCeiling(url, Math.min(seconds, 10), 0.6 * ceil);
      pacedLatency = { p50Ms: r.p50Ms, p95Ms: r.p95Ms };
      return r.pointsPerSec;
    });
    const influxdAlonePaced = { ...alonePaced, ...pacedLatency };
    print(`(a'') influxd alone paced at 60% of the ceiling, 5,000-point requests: ${JSON.stringify(influxdAlonePaced)}`);
    await settle(influxd?.pid(), print);
    const rollupCost = await rollupQueryCost(url, influxd?.pid(), Math.min(seconds, 8), print);
    print(`(a''') rollup query vs writes, influxd CPU: ${JSON.stringify(rollupCost)}`);

    // gRPC -> server first, on the influxd the ceiling was just measured on. Every phase gets a
    // server process and database of its own (dropped afterwards, then influxd settles), so no
    // phase pays for an earlier one's compactions or inherits its heap.
    const watch = { influxd: influxd?.pid() };
    const grpcPhase = async (kind: 'influx' | 'sqlite' | 'null', run: { batchesPerSec?: number; maxBatchesPerSec?: number }): Promise<GrpcRate> => {
      await settle(influxd?.pid(), print);
      const bucket = `bench_grpc_${kind}_${Date.now()}`;
      const srv = await startServer({ store: kind, url, bucket, dataDir: path.join(tmp, `server-${kind}-${Date.now()}`) });
      try {
        return await grpcRun(srv.port, srv.child.pid!, { agents, perBatch, seconds: grpcSeconds, warmupMs, window, watch, stats: srv.stats, ...run });
      } finally {
        await stopServer(srv.child);
        if (kind === 'influx') await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' });
      }
    };
    // Open loop at fixed shares of the ceiling: the target rate, and a lighter one. Then the
    // closed loop (as fast as acks come): it leaves influxd the most to compact, so it goes after.
    const paced: Array<GrpcRate & { targetPointsPerSec: number; shareOfCeiling: number }> = [];
    for (const share of [0.6, 0.4]) {
      const target = share * ceil;
      const r = await grpcPhase('influx', { batchesPerSec: target / (perBatch + 1) });
      paced.push({ ...r, targetPointsPerSec: Math.round(target), shareOfCeiling: share });
      print(`(d) gRPC -> server -> influx paced at ${share * 100}% of the ceiling (${Math.round(target)} points/s): ${JSON.stringify(r)}`);
    }
    const grpcInflux = await grpcPhase('influx', { maxBatchesPerSec: 2500 });
    print(`(d) gRPC -> server -> influx, ${agents} agents x ${perBatch} containers, window ${window}: ${JSON.stringify(grpcInflux)}`);
    // The null store stores nothing, so batches the pool hands out twice cost nothing: a smaller pool.
    const grpcNull = await grpcPhase('null', { maxBatchesPerSec: 2500 });
    print(`(d) gRPC -> server -> null store, ${agents} agents x ${perBatch} containers, window ${window}: ${JSON.stringify(grpcNull)}`);
    const grpcSqlite = await grpcPhase('sqlite', { maxBatchesPerSec: 2500 });
    print(`(d) gRPC -> server -> embedded, ${agents} agents x ${perBatch} containers, window ${window}: ${JSON.stringify(grpcSqlite)}`);
    await settle(influxd?.pid(), print);

    const influx = createInfluxStore({ url, bucket: `bench_adapter_${Date.now()}` });
    const adapterInflux = await adapterRate(influx, seconds, 32, perBatch);
    print(`(b) InfluxDB adapter, writeBatch direct, 32 callers x ${perBatch} containers: ${JSON.stringify(adapterInflux)}`);
    // The 24 h of points are "late" (older than the continuous query's window): the adapter's
    // backfill rolls them up, as it would after a spool replay.
    const hInflux = await history24h(influx, () => influx.backfillRollups());
    await influx.close();

    const sqliteDir = path.join(tmp, 'sqlite-direct');
    let clock = Date.now();
    const sqlite = createSqliteStore({ dataDir: sqliteDir, compactEveryMs: 0, now: () => clock });
    const adapterSqlite = await adapterRate(sqlite, seconds, 32, perBatch);
    print(`(c) embedded store, writeBatch direct, 32 callers x ${perBatch} containers: ${JSON.stringify(adapterSqlite)}`);
    const hSqliteRaw = await history24h(sqlite);
    clock = Date.now();
    const hSqlite = await history24h(sqlite, () => { clock = Date.now(); sqlite.compact(); });
    await sqlite.close();
    print(`history 24 h at auto step (median of 20): influx ${hInflux} ms, embedded ${hSqlite} ms (rollup tier), ${hSqliteRaw} ms before compaction (raw rows)`);

    return {
      machine: m, ceilingPointsPerSec: ceil, ceilingInfluxdCpuPercent: ceilRun.influxdCpuPercent, ceilingSmallRequests: smallRequests, influxdAlonePaced, rollupCost, adapterInflux, adapterSqlite,
      grpcInflux, grpcInfluxPaced: paced, grpcSqlite, grpcNullStore: grpcNull,
      history24hMs: { influx: hInflux, sqlite: hSqlite, sqliteRawTier: hSqliteRaw },
    };
  } finally {
    await influxd?.kill();
    if (influxd) fs.rmSync(influxd.dir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const seconds = Number(process.argv[2] ?? 10);
  runIngest({ seconds }).then((r) => { console.log(JSON.stringify(r, null, 2)); }, (err) => { console.error(err); process.exit(1); });
}
