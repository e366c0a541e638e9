// Benchmark (issue 2, part 1): what one agent's collection loop costs against N real idle
// containers at 1 s, counting the agent AND the Docker daemons (dockerd, containerd, shims)
// above a baseline taken with no monitor running. Three loops are compared, each in its own
// child process (bench/agent-cost-child.mjs over the compiled dist/):
//   cgroup      createCollector + cgroup reader + host collector + event stream (the agent's road)
//   cgroup-sync the same with syncReads (readSync on kept descriptors)
//   engine-api  the same with one-shot stats through the Engine API (the fallback)
//   bare-sync   the reference: a bare Node loop of sync reads of five cgroup files per container
// The daemons' CPU is only meaningful if nothing else uses them, so by default (as root, with
// dockerd installed) the benchmark starts a private dockerd under a temp dir, imports a busybox
// image into it, and tears it down at the end (BENCH_DOCKERD=shared uses DOCKER_HOST instead).
// Settings: BENCH_CONTAINERS (default "10,50,100"), BENCH_WINDOW_S (30), BENCH_INTERVAL_MS (1000),
// BENCH_DOCKERD (private|shared), BENCH_NODE_FLAGS (flags for the measured process, default none),
// BENCH_MODES ("cgroup,cgroup-sync,engine-api,bare-sync"), DOCKER_HOST / TEST_DOCKER_HOST, TEST_DOCKER_IMAGE.
// Run alone: node --import tsx bench/agent-cost.ts
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { dockerOptions } from '../src/infrastructure/docker/runtime.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type AgentCostMode = 'cgroup' | 'cgroup-sync' | 'engine-api' | 'bare-sync';

export interface AgentCostOptions {
  containers?: number[];
  windowS?: number;
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
}

export interface AgentCostRun {
  containers: number;
  baselineDaemonsCpuPct: number;
  modes: ModeResult[];
}

export interface AgentCostResult {
  scenario: 'agent-cost';
  machine: { nproc: number; cpuModel: string; kernel: string; dockerServer: string; cgroup: string; node: string; dockerd: string };
  intervalMs: number;
  windowS: number;
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
  const intervalMs = opts.intervalMs ?? Number(env.BENCH_INTERVAL_MS ?? 1000);
  const warmupS = opts.warmupS ?? 5;
  const modes = opts.modes ?? ((env.BENCH_MODES ?? 'cgroup,cgroup-sync,engine-api,bare-sync').split(',') as AgentCostMode[]);
  const print = opts.print ?? true;
  const nodeFlags = opts.nodeFlags ?? (env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const log = (s: string) => print && process.stderr.write(`[agent-cost] ${s}\n`);

  // The measured loops run the compiled code: build it (errors elsewhere do not stop the emit).
  log('building dist/ (tsc -p tsconfig.build.json)');
  await run(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.build.json`], { cwd: ROOT })
    .catch(() => undefined);
  for (const f of ['application/collect.js', 'infrastructure/cgroup/reader.js', 'infrastructure/docker/stats-reader.js']) {
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
    scenario: 'agent-cost', machine: await machine(dockerHost, dockerdMode), intervalMs, windowS, nodeFlags, runs: [],
    loadAvgBefore: readFileSync('/proc/loadavg', 'latin1').trim(), loadAvgAfter: '',
    note: 'Shared machine: other processes (e.g. other test runs) may have loaded it during the windows; '
      + 'compare loadAvgBefore/After. Daemon CPU counts only the daemons of this DOCKER_HOST '
      + `(${dockerdMode === 'private' ? 'a private dockerd started for this run' : 'shared with other users'}).`,
  };
  const daemons = () => daemonPids(dockerHost);
  await removeBenchContainers(docker);
  try {
    for (const n of sizes) {
      log(`starting ${n} idle containers`);
      const ids = await startContainers(docker, image, n, String(process.pid));
      await sleep(5000);
      log(`baseline window ${windowS}s`);
      const baseline = await measureWindow(daemons, windowS);
      const runResult: AgentCostRun = { containers: n, baselineDaemonsCpuPct: round2(baseline), modes: [] };
      for (const mode of modes) {
        // Engine one-shot stats block up to ~1 s each: all in flight, or a round outlasts the interval.
        const concurrency = mode === 'engine-api' ? n : 16;
        const child = await startChild(mode, intervalMs, concurrency, { ...env, DOCKER_HOST: dockerHost, BENCH_IDS: ids.join(',') }, nodeFlags);
        await sleep(warmupS * 1000);
        log(`${mode}: window ${windowS}s`);
        const pid = child.pid!;
        const [agent, daemonsPct] = await Promise.all([measureWindow(() => [pid], windowS), measureWindow(daemons, windowS)]);
        const rssKb = procKb(pid, 'VmRSS');
        const hwmKb = procKb(pid, 'VmHWM');
        const stats = await stopChild(child);
        const above = daemonsPct - baseline;
        runResult.modes.push({
          mode, agentCpuPct: round2(agent), agentRssMb: round1(rssKb / 1024), agentPeakRssMb: round1(hwmKb / 1024),
          daemonsCpuPct: round2(daemonsPct), daemonsAboveBaselinePct: round2(above), totalAboveBaselinePct: round2(agent + above),
          rounds: stats.rounds ?? 0, skippedRounds: stats.skipped ?? 0, containersSeen: stats.containersSeen ?? 0,
          meanRoundMs: round1(stats.meanRoundMs ?? 0), p95RoundMs: round1(stats.p95RoundMs ?? 0),
        });
        await sleep(2000);
      }
      result.runs.push(runResult);
      log(`removing ${n} containers`);
      await removeBenchContainers(docker);
    }
  } finally {
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
    `interval ${r.intervalMs} ms, window ${r.windowS} s, node flags "${r.nodeFlags.join(' ')}"; loadavg before ${r.loadAvgBefore} / after ${r.loadAvgAfter}`,
    '',
    '| containers | loop | agent CPU % | agent RSS MB (peak) | daemons CPU % (baseline) | agent + daemons above baseline, % of one core | mean / p95 round ms | rounds (skipped) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const run of r.runs) {
    for (const x of run.modes) {
      lines.push(`| ${run.containers} | ${x.mode} | ${x.agentCpuPct} | ${x.agentRssMb} (${x.agentPeakRssMb}) | ${x.daemonsCpuPct} (${run.baselineDaemonsCpuPct}) `
        + `| **${x.totalAboveBaselinePct}** | ${x.meanRoundMs} / ${x.p95RoundMs} | ${x.rounds} (${x.skippedRounds}) |`);
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
