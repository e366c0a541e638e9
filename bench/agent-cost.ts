// Benchmark (issue 2, part 1): what one agent's collection loop costs against N real idle
// containers at 1 s, counting the agent AND the Docker daemons (dockerd, containerd, shims)
// above a baseline taken with no monitor running. The loops compared, each in its own process:
//   real-agent  the real `dockwatch agent` process (node dist/cli.js agent, gRPC client included)
//               streaming to a real `dockwatch server` process (embedded store) the benchmark
//               starts; it runs BENCH_AGENT_RUN_S (default 300 s: the 5-minute run of issue 13) at
//               the largest container count and the ordinary window at the others. RSS is sampled
//               from /proc every second (start of the window, VmHWM peak, end), the heap from the
//               heapUsed the agent writes into AGENT_STATUS_FILE every interval.
//   real-agent-v8-defaults  the same with AGENT_LOW_MEMORY=false (V8's defaults), ordinary window:
//               what the low-memory settings (src/agent/low-memory.ts) cost in CPU and save in RSS.
// and the collection loop alone, in a child (bench/agent-cost-child.mjs over the compiled dist/):
//   cgroup      createCollector + cgroup reader + host collector + event stream (the agent's road)
//   cgroup-sync the same with syncReads (readSync on kept descriptors)
//   engine-api  the same with one-shot stats through the Engine API (the fallback)
//   bare-sync   the reference: a bare Node loop of sync reads of five cgroup files per container
// The daemons' CPU is only meaningful if nothing else uses them, so by default (as root, with
// dockerd installed) the benchmark starts a private dockerd under a temp dir, imports a busybox
// image into it, and tears it down at the end (BENCH_DOCKERD=shared uses DOCKER_HOST instead).
// Settings: BENCH_CONTAINERS (default "10,50,100"), BENCH_WINDOW_S (30), BENCH_AGENT_RUN_S (300), BENCH_INTERVAL_MS (1000),
// BENCH_DOCKERD (private|shared), BENCH_NODE_FLAGS (flags for the measured process, default none),
// BENCH_MODES ("real-agent,real-agent-v8-defaults,cgroup,cgroup-sync,engine-api,bare-sync,docker-stats"; docker-stats is the
// docker CLI's own live view, `docker stats` streaming every container: the comparison issue 13 asks for), DOCKER_HOST / TEST_DOCKER_HOST, TEST_DOCKER_IMAGE.
// Run alone: node --import tsx bench/agent-cost.ts
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { dockerOptions } from '../src/infrastructure/docker/runtime.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type AgentCostMode = 'real-agent' | 'real-agent-v8-defaults' | 'cgroup' | 'cgroup-sync' | 'engine-api' | 'bare-sync' | 'docker-stats';

export interface AgentCostOptions {
  containers?: number[];
  windowS?: number;
  /** Window of the real agent at the largest container count (default 300 s, env BENCH_AGENT_RUN_S). */
  agentRunS?: number;
  intervalMs?: number;
  modes?: AgentCostMode[];
  dockerHost?: string;
  image?: string;
  /** 'private' starts a dockerd of its own (default when root and dockerd exists); 'shared' uses dockerHost. */
  dockerd?: 'private' | 'shared';
  /** Node flags for the measured process, e.g. ['--max-semi-space-size=1'] (env BENCH_NODE_FLAGS). */
  nodeFlags?: string[];
  /** Seconds a loop runs before its window starts (default 5). */
  warmupS?: number;
  print?: boolean;
}

export interface ModeResult {
  mode: AgentCostMode;
  agentCpuPct: number;
  agentRssMb: number;
  agentPeakRssMb: number;
  daemonsCpuPct: number;
  daemonsAboveBaselinePct: number;
  /** agent + daemons above baseline, in % of one core: the figure to compare. */
  totalAboveBaselinePct: number;
  rounds: number;
  skippedRounds: number;
  containersSeen: number;
  meanRoundMs: number;
  p95RoundMs: number;
  /** The whole machine over the window, % of one core (200 = both cores busy). */
  machineCpuPct?: number;
  /** real-agent only: the whole run, memory over time and what the server received. */
  real?: RealAgentFigures;
}

export interface RealAgentFigures {
  windowS: number;
  /** VmRSS at the start and end of the window, MB; peak is VmHWM (the whole life of the process). */
  rssStartMb: number;
  rssEndMb: number;
  rssPeakMb: number;
  rssMaxSampledMb: number;
  /** heapUsed from the status file, MB: mean and minimum (after-GC floor) of the first and last minute (or fifth). */
  heapStartMeanMb: number;
  heapEndMeanMb: number;
  heapStartMinMb: number;
  heapEndMinMb: number;
  heapSamples: number;
  /** Containers of this benchmark the server's /api/containers listed at the end. */
  serverSawContainers: number;
  serverCpuPct: number;
  /** The whole machine over the window, % of one core (200 = both cores): the noise others add. */
  machineCpuPct: number;
  /** (time s, VmRSS MB, heapUsed MB) every 10 s, for the curve. */
  curve: Array<[number, number, number]>;
}

export interface AgentCostRun {
  containers: number;
  baselineDaemonsCpuPct: number;
  /** The whole machine during the baseline window, % of one core. */
  baselineMachineCpuPct: number;
  modes: ModeResult[];
}

export interface AgentCostResult {
  scenario: 'agent-cost';
  machine: { nproc: number; cpuModel: string; kernel: string; dockerServer: string; cgroup: string; node: string; dockerd: string };
  intervalMs: number;
  windowS: number;
  agentRunS: number;
  nodeFlags: string[];
  runs: AgentCostRun[];
  loadAvgBefore: string;
  loadAvgAfter: string;
  note: string;
}

// ---------- /proc accounting ----------

function procTicks(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch {
    return null;
  }
}

function procKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * The daemons serving this DOCKER_HOST: its dockerd (matched by socket path when there are
 * several), the containerd that dockerd started, and the shims under that dockerd's exec root.
 */
export function daemonPids(dockerHost: string): number[] {
  const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((pid) => {
    let comm = '';
    let ppid = 0;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
      const st = readFileSync(`/proc/${pid}/stat`, 'latin1');
      ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      // process gone
    }
    return { pid: Number(pid), comm, ppid, args: comm.startsWith('dockerd') || comm.startsWith('containerd') ? cmdline(pid) : '' };
  });
  const sock = dockerHost.replace(/^unix:\/\//, '');
  let dockerds = procs.filter((p) => p.comm === 'dockerd');
  const bySocket = dockerds.filter((p) => p.args.includes(sock));
  if (bySocket.length) dockerds = bySocket;
  const dIds = new Set(dockerds.map((p) => p.pid));
  const execRoots = dockerds.map((p) => /--exec-root[= ](\S+)/.exec(p.args)?.[1]).filter((x): x is string => !!x);
  const containerds = procs.filter((p) => p.comm === 'containerd' && (dIds.has(p.ppid) || !execRoots.length));
  const shims = procs.filter((p) => p.comm.startsWith('containerd-shim')
    && (!execRoots.length || execRoots.some((r) => p.args.includes(r))));
  return [...dockerds, ...containerds, ...shims].map((p) => p.pid);
}

/** CPU % of one core used by a set of processes over a window (pids born inside count fully). */
async function measureWindow(pids: () => number[], windowS: number): Promise<number> {
  const start = new Map<number, number>();
  for (const pid of pids()) {
    const t = procTicks(pid);
    if (t !== null) start.set(pid, t);
  }
  const t0 = performance.now();
  await sleep(windowS * 1000);
  const elapsedS = (performance.now() - t0) / 1000;
  let ticks = 0;
  for (const pid of pids()) {
    const t = procTicks(pid);
    if (t !== null) ticks += t - (start.get(pid) ?? 0);
  }
  return (ticks / CLK_TCK / elapsedS) * 100;
}

/** CPU % of one core the whole machine used over a window (all cores summed; 200 % = both of 2 busy). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function measureMachine(windowS: number): Promise<number> {
  const a = machineTicks();
  const t0 = performance.now();
  await sleep(windowS * 1000);
  const elapsedS = (performance.now() - t0) / 1000;
  const b = machineTicks();
  return ((b.busy - a.busy) / CLK_TCK / elapsedS) * 100;
}

// ---------- containers ----------

async function startContainers(docker: Docker, image: string, n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const c = await docker.createContainer({
        Image: image, name: `bench-agent-${tag}-${i}`, Cmd: ['sleep', '1000000'],
        Labels: { 'dockwatch.bench': '1' }, HostConfig: { NetworkMode: 'none' },
      });
      await c.start();
      ids.push(c.id);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

async function removeBenchContainers(docker: Docker): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['dockwatch.bench=1'], name: ['bench-agent-'] }) });
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const c = list[next++]!;
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

// ---------- a private daemon ----------

/** dockerd as in /work/shared/ENVIRONMENT.md, with its socket, data and exec roots under a temp dir. */
async function startPrivateDockerd(image: string): Promise<{ host: string; stop(): Promise<void> }> {
  const dir = mkdtempSync('/tmp/bench-dockerd-');
  const host = `unix://${dir}/docker.sock`;
  const logFd = openSync(`${dir}/dockerd.log`, 'a');
  const d = spawn('dockerd', [
    '--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none', `--data-root=${dir}/root`,
    `--exec-root=${dir}/exec`, `--host=${host}`, `--pidfile=${dir}/docker.pid`,
  ], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const env = { ...process.env, DOCKER_HOST: host };
  const stop = async () => {
    if (d.exitCode === null) {
      const exited = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (await run('docker', ['info', '--format', '{{.ServerVersion}}'], { env }).then(() => true, () => false)) break;
      if (i > 60 || d.exitCode !== null) throw new Error(`private dockerd did not start; see ${dir}/dockerd.log`);
      await sleep(500);
    }
    const rootfs = `${dir}/rootfs`;
    mkdirSync(`${rootfs}/bin`, { recursive: true });
    copyFileSync('/bin/busybox', `${rootfs}/bin/busybox`);
    for (const c of ['sh', 'sleep']) symlinkSync('busybox', `${rootfs}/bin/${c}`);
    await run('sh', ['-c', `tar -C ${rootfs} -c . | docker import - ${image}`], { env });
    return { host, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------- the real processes ----------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface RealServer {
  grpcAddr: string;
  httpBase: string;
  token: string;
  pid: number;
  bearer(): Promise<string>;
  stop(): Promise<void>;
}

const BENCH_PASSWORD = 'bench-agent-cost-password';

/** A real `dockwatch server` (node dist/cli.js server, embedded store) on loopback ports. */
async function startRealServer(): Promise<RealServer> {
  const dir = mkdtempSync('/tmp/bench13-server-');
  const [port, grpcPort] = [await freePort(), await freePort()];
  const token = `bench-agent-token-${process.pid}`;
  const logFd = openSync(`${dir}/server.log`, 'a');
  const child = spawn(process.execPath, [`${ROOT}dist/cli.js`, 'server'], {
    env: {
      PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort),
      DATA_DIR: `${dir}/data`, AGENT_TOKEN: token, ADMIN_PASSWORD: BENCH_PASSWORD, JWT_SECRET: `bench-${'x'.repeat(40)}`,
    },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const httpBase = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const up = await fetch(`${httpBase}/health`).then((r) => r.status < 500, () => false);
    if (up) break;
    if (i > 120 || child.exitCode !== null) {
      const out = readFileSync(`${dir}/server.log`, 'utf8').slice(-2000);
      await stop();
      throw new Error(`dockwatch server did not start:\n${out}`);
    }
    await sleep(250);
  }
  let bearer: string | undefined;
  return {
    grpcAddr: `127.0.0.1:${grpcPort}`, httpBase, token, pid: child.pid!, stop,
    async bearer() {
      if (bearer) return bearer;
      const res = await fetch(`${httpBase}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: BENCH_PASSWORD }),
      });
      bearer = ((await res.json()) as { token: string }).token;
      return bearer;
    },
  };
}

/** How many of this benchmark's containers the server lists (proof the agent's stream arrived). */
async function serverContainers(server: RealServer): Promise<number> {
  try {
    const res = await fetch(`${server.httpBase}/api/containers`, { headers: { authorization: `Bearer ${await server.bearer()}` } });
    const list = (await res.json()) as Array<{ name: string; state: string }>;
    return list.filter((c) => c.name.replace(/^\//, '').startsWith('bench-agent-') && c.state === 'running').length;
  } catch {
    return 0;
  }
}

interface AgentStatus { ts: number; connected: boolean; rss?: number; heapUsed?: number }

function readStatus(file: string): AgentStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as AgentStatus;
  } catch {
    return undefined;
  }
}

/** The real `dockwatch agent` process, started as a user starts it (node dist/cli.js agent). */
async function startRealAgent(server: RealServer, dockerHost: string, intervalMs: number, nodeFlags: string[], lowMemory: boolean): Promise<{ child: ChildProcess; statusFile: string; dir: string }> {
  const dir = mkdtempSync('/tmp/bench13-agent-');
  const statusFile = `${dir}/status.json`;
  const logFd = openSync(`${dir}/agent.log`, 'a');
  const child = spawn(process.execPath, [...nodeFlags, `${ROOT}dist/cli.js`, 'agent'], {
    env: {
      PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', DOCKER_HOST: dockerHost, SERVER_ADDR: server.grpcAddr, AGENT_TOKEN: server.token,
      COLLECT_INTERVAL: `${intervalMs}ms`, AGENT_STATUS_FILE: statusFile, AGENT_ID: `bench-agent-${process.pid}`,
      AGENT_LOW_MEMORY: String(lowMemory),
    },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  for (let i = 0; ; i++) {
    if (readStatus(statusFile)?.connected) break;
    if (i > 120 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`dockwatch agent did not connect:\n${readFileSync(`${dir}/agent.log`, 'utf8').slice(-2000)}`);
    }
    await sleep(250);
  }
  return { child, statusFile, dir };
}

/** Runs the real agent for a window: CPU of agent, daemons and server; RSS every second; heap from the status file. */
async function measureRealAgent(server: RealServer, dockerHost: string, n: number, intervalMs: number, warmupS: number, windowS: number,
  nodeFlags: string[], daemons: () => number[], lowMemory: boolean) {
  const agent = await startRealAgent(server, dockerHost, intervalMs, nodeFlags, lowMemory);
  const pid = agent.child.pid!;
  await sleep(warmupS * 1000);
  const samples: Array<{ t: number; rssMb: number; heapMb: number | undefined }> = [];
  let sampling = true;
  const t0 = performance.now();
  const sampler = (async () => {
    let lastTs = 0;
    while (sampling) {
      const st = readStatus(agent.statusFile);
      const fresh = st && st.ts !== lastTs && st.heapUsed !== undefined;
      if (st) lastTs = st.ts;
      samples.push({ t: (performance.now() - t0) / 1000, rssMb: procKb(pid, 'VmRSS') / 1024, heapMb: fresh ? st.heapUsed! / 2 ** 20 : undefined });
      await sleep(1000);
    }
  })();
  const [agentPct, daemonsPct, serverPct, machinePct] = await Promise.all([
    measureWindow(() => [pid], windowS), measureWindow(daemons, windowS), measureWindow(() => [server.pid], windowS), measureMachine(windowS),
  ]);
  sampling = false;
  await sampler;
  const peakKb = procKb(pid, 'VmHWM');
  const endKb = procKb(pid, 'VmRSS');
  const seen = await serverContainers(server);
  const exited = new Promise((r) => agent.child.once('exit', r));
  agent.child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
  rmSync(agent.dir, { recursive: true, force: true });

  const heaps = samples.filter((x) => x.heapMb !== undefined) as Array<{ t: number; rssMb: number; heapMb: number }>;
  const span = Math.min(60, windowS / 5);
  const first = heaps.filter((x) => x.t <= span).map((x) => x.heapMb);
  const last = heaps.filter((x) => x.t >= windowS - span).map((x) => x.heapMb);
  const mean = (a: number[]) => (a.length ? a.reduce((p, v) => p + v, 0) / a.length : 0);
  const min = (a: number[]) => (a.length ? Math.min(...a) : 0);
  const real: RealAgentFigures = {
    windowS: Math.round((performance.now() - t0) / 1000),
    rssStartMb: round1(samples[0]?.rssMb ?? 0), rssEndMb: round1(endKb / 1024), rssPeakMb: round1(peakKb / 1024),
    rssMaxSampledMb: round1(Math.max(...samples.map((x) => x.rssMb))),
    heapStartMeanMb: round2(mean(first)), heapEndMeanMb: round2(mean(last)), heapStartMinMb: round2(min(first)), heapEndMinMb: round2(min(last)),
    heapSamples: heaps.length, serverSawContainers: seen, serverCpuPct: round2(serverPct), machineCpuPct: round1(machinePct),
    curve: samples.filter((_, i) => i % 10 === 0).map((x) => [Math.round(x.t), round1(x.rssMb), round2(x.heapMb ?? Number.NaN)]),
  };
  return { agentPct, daemonsPct, rssKb: endKb, hwmKb: peakKb, real, containersSeen: seen, n };
}

/** `docker stats` as a user runs it (a live view of every running container): the CLI's CPU and the daemons'. */
async function measureDockerStats(dockerHost: string, warmupS: number, windowS: number, daemons: () => number[]) {
  const child = spawn('docker', ['stats', '--format', '{{.ID}} {{.CPUPerc}} {{.MemUsage}}'], {
    env: { ...process.env, DOCKER_HOST: dockerHost }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ids = new Set<string>();
  child.stdout!.on('data', (d: Buffer) => {
    // Not a terminal: each refresh is a clear-screen sequence and one line per container.
    for (const m of d.toString().matchAll(/([0-9a-f]{12}) \d/g)) ids.add(m[1]!);
  });
  await sleep(warmupS * 1000);
  const pid = child.pid!;
  const [cliPct, daemonsPct, machinePct] = await Promise.all([measureWindow(() => [pid], windowS), measureWindow(daemons, windowS), measureMachine(windowS)]);
  const rssKb = procKb(pid, 'VmRSS');
  const hwmKb = procKb(pid, 'VmHWM');
  child.kill('SIGTERM');
  return { cliPct, daemonsPct, machinePct, rssKb, hwmKb, containersSeen: ids.size };
}

// ---------- the measured loop ----------

function startChild(mode: AgentCostMode, intervalMs: number, concurrency: number, env: NodeJS.ProcessEnv, nodeFlags: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeFlags, `${ROOT}bench/agent-cost-child.mjs`, mode, String(intervalMs), String(concurrency)], {
    env, stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${mode} loop exited with ${code}`)));
  });
}

function stopChild(child: ChildProcess): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>);
      } catch {
        resolve({});
      }
    });
    child.kill('SIGTERM');
  });
}

async function machine(dockerHost: string, dockerd: string): Promise<AgentCostResult['machine']> {
  const env = { ...process.env, DOCKER_HOST: dockerHost };
  const docker = await run('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], { env })
    .then((r) => r.stdout.trim(), () => 'unknown');
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim(),
    dockerServer: docker,
    cgroup: existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1',
    node: process.version,
    dockerd,
  };
}

const round1 = (v: number) => Math.round(v * 10) / 10;
const round2 = (v: number) => Math.round(v * 100) / 100;

export async function runAgentCost(opts: AgentCostOptions = {}): Promise<AgentCostResult> {
  const env = process.env;
  const canOwnDaemon = process.getuid?.() === 0 && existsSync('/usr/sbin/dockerd') && existsSync('/bin/busybox');
  const dockerdMode = opts.dockerd ?? (env.BENCH_DOCKERD === 'shared' || !canOwnDaemon ? 'shared' : 'private');
  let dockerHost = opts.dockerHost ?? env.DOCKER_HOST ?? env.TEST_DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  const image = opts.image ?? env.TEST_DOCKER_IMAGE ?? 'dockwatch-test/busybox:latest';
  const sizes = opts.containers ?? (env.BENCH_CONTAINERS ?? '10,50,100').split(',').map(Number).filter((n) => n > 0);
  const windowS = opts.windowS ?? Number(env.BENCH_WINDOW_S ?? 30);
  const agentRunS = opts.agentRunS ?? Number(env.BENCH_AGENT_RUN_S ?? 300);
  const intervalMs = opts.intervalMs ?? Number(env.BENCH_INTERVAL_MS ?? 1000);
  const warmupS = opts.warmupS ?? 5;
  const modes = opts.modes ?? ((env.BENCH_MODES ?? 'real-agent,real-agent-v8-defaults,cgroup,cgroup-sync,engine-api,bare-sync,docker-stats').split(',') as AgentCostMode[]);
  const print = opts.print ?? true;
  const nodeFlags = opts.nodeFlags ?? (env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const log = (s: string) => print && process.stderr.write(`[agent-cost] ${s}\n`);

  // The measured loops run the compiled code: build it (errors elsewhere do not stop the emit).
  log('building dist/ (tsc -p tsconfig.build.json)');
  await run(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.build.json`], { cwd: ROOT })
    .catch(() => undefined);
  for (const f of ['cli.js', 'application/collect.js', 'infrastructure/cgroup/reader.js', 'infrastructure/docker/stats-reader.js']) {
    if (!existsSync(`${ROOT}dist/${f}`)) throw new Error(`dist/${f} missing after the build`);
  }

  let privateDaemon: { host: string; stop(): Promise<void> } | undefined;
  if (dockerdMode === 'private') {
    log('starting a private dockerd');
    privateDaemon = await startPrivateDockerd(image);
    dockerHost = privateDaemon.host;
  }
  const docker = new Docker(dockerOptions(dockerHost));
  const result: AgentCostResult = {
    scenario: 'agent-cost', machine: await machine(dockerHost, dockerdMode), intervalMs, windowS, agentRunS, nodeFlags, runs: [],
    loadAvgBefore: readFileSync('/proc/loadavg', 'latin1').trim(), loadAvgAfter: '',
    note: 'Shared machine: other processes (e.g. other test runs) may have loaded it during the windows; '
      + 'compare loadAvgBefore/After. Daemon CPU counts only the daemons of this DOCKER_HOST '
      + `(${dockerdMode === 'private' ? 'a private dockerd started for this run' : 'shared with other users'}).`,
  };
  const daemons = () => daemonPids(dockerHost);
  await removeBenchContainers(docker);
  let server: RealServer | undefined;
  try {
    if (modes.some((m) => m.startsWith('real-agent'))) {
      log('starting a real dockwatch server (embedded store)');
      server = await startRealServer();
    }
    for (const n of sizes) {
      log(`starting ${n} idle containers`);
      const ids = await startContainers(docker, image, n, String(process.pid));
      await sleep(5000);
      log(`baseline window ${windowS}s`);
      const [baseline, baselineMachine] = await Promise.all([measureWindow(daemons, windowS), measureMachine(windowS)]);
      const runResult: AgentCostRun = { containers: n, baselineDaemonsCpuPct: round2(baseline), baselineMachineCpuPct: round1(baselineMachine), modes: [] };
      for (const mode of modes) {
        if (mode === 'real-agent' || mode === 'real-agent-v8-defaults') {
          const w = mode === 'real-agent' && n === Math.max(...sizes) ? agentRunS : windowS;
          log(`${mode}: dockwatch agent -> dockwatch server, window ${w}s`);
          const r = await measureRealAgent(server!, dockerHost, n, intervalMs, warmupS, w, nodeFlags, daemons, mode === 'real-agent');
          const above = r.daemonsPct - baseline;
          runResult.modes.push({
            mode, agentCpuPct: round2(r.agentPct), agentRssMb: round1(r.rssKb / 1024), agentPeakRssMb: round1(r.hwmKb / 1024),
            daemonsCpuPct: round2(r.daemonsPct), daemonsAboveBaselinePct: round2(above), totalAboveBaselinePct: round2(r.agentPct + above),
            rounds: 0, skippedRounds: 0, containersSeen: r.containersSeen, meanRoundMs: 0, p95RoundMs: 0, machineCpuPct: r.real.machineCpuPct, real: r.real,
          });
          await sleep(2000);
          continue;
        }
        if (mode === 'docker-stats') {
          log(`docker-stats: docker stats (streaming, every container), window ${windowS}s`);
          const r = await measureDockerStats(dockerHost, warmupS, windowS, daemons);
          const above = r.daemonsPct - baseline;
          runResult.modes.push({
            mode, agentCpuPct: round2(r.cliPct), agentRssMb: round1(r.rssKb / 1024), agentPeakRssMb: round1(r.hwmKb / 1024),
            daemonsCpuPct: round2(r.daemonsPct), daemonsAboveBaselinePct: round2(above), totalAboveBaselinePct: round2(r.cliPct + above),
            rounds: 0, skippedRounds: 0, containersSeen: r.containersSeen, meanRoundMs: 0, p95RoundMs: 0, machineCpuPct: round1(r.machinePct),
          });
          await sleep(2000);
          continue;
        }
        // Engine one-shot stats block up to ~1 s each: all in flight, or a round outlasts the interval.
        const concurrency = mode === 'engine-api' ? n : 16;
        const child = await startChild(mode, intervalMs, concurrency, { ...env, DOCKER_HOST: dockerHost, BENCH_IDS: ids.join(',') }, nodeFlags);
        await sleep(warmupS * 1000);
        log(`${mode}: window ${windowS}s`);
        const pid = child.pid!;
        const [agent, daemonsPct, machinePct] = await Promise.all([measureWindow(() => [pid], windowS), measureWindow(daemons, windowS), measureMachine(windowS)]);
        const rssKb = procKb(pid, 'VmRSS');
        const hwmKb = procKb(pid, 'VmHWM');
        const stats = await stopChild(child);
        const above = daemonsPct - baseline;
        runResult.modes.push({
          mode, agentCpuPct: round2(agent), agentRssMb: round1(rssKb / 1024), agentPeakRssMb: round1(hwmKb / 1024),
          daemonsCpuPct: round2(daemonsPct), daemonsAboveBaselinePct: round2(above), totalAboveBaselinePct: round2(agent + above),
          rounds: stats.rounds ?? 0, skippedRounds: stats.skipped ?? 0, containersSeen: stats.containersSeen ?? 0,
          meanRoundMs: round1(stats.meanRoundMs ?? 0), p95RoundMs: round1(stats.p95RoundMs ?? 0), machineCpuPct: round1(machinePct),
        });
        await sleep(2000);
      }
      result.runs.push(runResult);
      log(`removing ${n} containers`);
      await removeBenchContainers(docker);
    }
  } finally {
    await server?.stop().catch(() => undefined);
    await removeBenchContainers(docker).catch(() => undefined);
    await privateDaemon?.stop();
  }
  result.loadAvgAfter = readFileSync('/proc/loadavg', 'latin1').trim();
  if (print) printTable(result);
  return result;
}

export function printTable(r: AgentCostResult): void {
  const m = r.machine;
  const lines = [
    `agent-cost: ${m.nproc} x ${m.cpuModel}, kernel ${m.kernel}, Docker ${m.dockerServer} (${m.dockerd} daemon), cgroup ${m.cgroup}, Node ${m.node}`,
    `interval ${r.intervalMs} ms, window ${r.windowS} s (real agent at the largest count: ${r.agentRunS} s), node flags "${r.nodeFlags.join(' ')}"; loadavg before ${r.loadAvgBefore} / after ${r.loadAvgAfter}`,
    '',
    '| containers | loop | agent CPU % | agent RSS MB (peak) | daemons CPU % (baseline) | agent + daemons above baseline, % of one core | mean / p95 round ms | rounds (skipped) | machine CPU % (baseline) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const run of r.runs) {
    for (const x of run.modes) {
      lines.push(`| ${run.containers} | ${x.mode} | ${x.agentCpuPct} | ${x.agentRssMb} (${x.agentPeakRssMb}) | ${x.daemonsCpuPct} (${run.baselineDaemonsCpuPct}) `
        + `| **${x.totalAboveBaselinePct}** | ${x.real ? '–' : `${x.meanRoundMs} / ${x.p95RoundMs}`} | ${x.real ? `server saw ${x.containersSeen}` : `${x.rounds} (${x.skippedRounds})`} | ${x.machineCpuPct ?? '–'} (${run.baselineMachineCpuPct}) |`);
    }
  }
  const reals = r.runs.flatMap((run) => run.modes.filter((x) => x.real).map((x) => ({ n: run.containers, mode: x.mode, ...x.real! })));
  if (reals.length) {
    lines.push('', '| containers | real agent | window s | RSS MB start / peak (VmHWM) / end | heapUsed MB first / last minute: mean (min) | server CPU % | server saw |',
      '| --- | --- | --- | --- | --- | --- | --- |');
    for (const x of reals) {
      lines.push(`| ${x.n} | ${x.mode} | ${x.windowS} | ${x.rssStartMb} / ${x.rssPeakMb} / ${x.rssEndMb} | ${x.heapStartMeanMb} (${x.heapStartMinMb}) → ${x.heapEndMeanMb} (${x.heapEndMinMb}) `
        + `| ${x.serverCpuPct} | ${x.serverSawContainers} |`);
    }
  }
  lines.push('', r.note);
  process.stdout.write(lines.join('\n') + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runAgentCost().then((r) => process.stdout.write(JSON.stringify(r) + '\n')).catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
