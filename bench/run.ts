// `npm run bench`: every benchmark scenario, in one run on one machine, each with what it is
// compared against in the same run. Results go to stdout (tables) and .bench-results/<time>.json.
// BENCH_SCENARIOS picks a subset: agent-cost,latency,ingest,fleet,replicas,dashboard (default all).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function servicesUp(): void {
  // Same services as the tests: a real Docker engine (+ busybox image) and InfluxDB on loopback.
  const out = execFileSync('bash', [join(root, 'scripts/services.sh'), 'up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    if (m) process.env[m[1]!] = m[2]!;
  }
}

function machine(): Record<string, string | number> {
  const docker = (() => {
    try { return execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim(); } catch { return 'n/a'; }
  })();
  const cgroup = (() => {
    try { readFileSync('/sys/fs/cgroup/cgroup.controllers'); return 'v2'; } catch { return 'v1'; }
  })();
  return {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(), node: process.version, docker, cgroup, loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
  };
}

async function main(): Promise<void> {
  const wanted = new Set((process.env.BENCH_SCENARIOS ?? 'agent-cost,latency,ingest,fleet,replicas,dashboard').split(',').map((s) => s.trim()));
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  servicesUp();
  const results: Record<string, unknown> = { startedAt: new Date().toISOString(), machine: machine(), command: 'npm run bench' };
  console.log('machine:', JSON.stringify(results.machine));

  if (wanted.has('agent-cost')) {
    const { runAgentCost, printTable } = await import('./agent-cost.js');
    const r = await runAgentCost({ print: true });
    printTable(r);
    results.agentCost = r;
  }
  if (wanted.has('latency')) {
    const { runLatency, printLatency } = await import('./latency.js');
    const r = await runLatency();
    printLatency(r);
    results.latency = r;
  }
  if (wanted.has('ingest')) {
    const { runIngest } = await import('./ingest.js');
    results.ingest = await runIngest({});
  }
  if (wanted.has('fleet')) {
    const { runFleet } = await import('./fleet.js');
    results.fleet = await runFleet({});
  }
  if (wanted.has('replicas')) {
    const { runReplicas } = await import('./replicas.js');
    results.replicas = await runReplicas({});
  }
  if (wanted.has('dashboard')) {
    const { runDashboard } = await import('./dashboard.js');
    results.dashboard = await runDashboard();
  }
  const dir = join(root, '.bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`\nresults: ${file}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
