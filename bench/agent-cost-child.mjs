// The measured process of bench/agent-cost.ts: one collection loop, nothing else. Plain JS over
// the compiled dist/ so no TypeScript loader inflates its CPU or RSS.
//   node bench/agent-cost-child.mjs <cgroup|cgroup-sync|engine-api|bare-sync> <intervalMs> <concurrency>
// Env: DOCKER_HOST; BENCH_IDS (comma-separated container ids, bare-sync only); HOST_PROC, HOST_SYS.
import { readFileSync } from 'node:fs';

const [mode = 'cgroup', intervalArg = '1000', concurrencyArg = '16'] = process.argv.slice(2);
const intervalMs = Number(intervalArg);
const durations = [];
let skipped = 0;
let containersSeen = 0;
let busy = false;

const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

async function makeRound() {
  if (mode === 'bare-sync') {
    // The reference: sync reads of five cgroup v1 files per container, numbers parsed, nothing kept.
    const sys = process.env.HOST_SYS ?? '/sys';
    const ids = (process.env.BENCH_IDS ?? '').split(',').filter(Boolean);
    const files = ids.map((id) => [
      `${sys}/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`,
      `${sys}/fs/cgroup/memory/docker/${id}/memory.usage_in_bytes`,
      `${sys}/fs/cgroup/memory/docker/${id}/memory.stat`,
      `${sys}/fs/cgroup/pids/docker/${id}/pids.current`,
      `${sys}/fs/cgroup/blkio/docker/${id}/blkio.throttle.io_service_bytes`,
    ]);
    return async () => {
      let sum = 0;
      for (const group of files) for (const f of group) sum += Number.parseInt(readFileSync(f, 'latin1'), 10) || 0;
      containersSeen = files.length;
      return sum;
    };
  }
  const dist = new URL('../dist/', import.meta.url);
  const { createCollector } = await import(new URL('application/collect.js', dist).href);
  const { createDockerRuntime } = await import(new URL('infrastructure/docker/runtime.js', dist).href);
  const { createEngineStatsReader } = await import(new URL('infrastructure/docker/stats-reader.js', dist).href);
  const { createCgroupUsageReader } = await import(new URL('infrastructure/cgroup/reader.js', dist).href);
  const { createHostCollector } = await import(new URL('infrastructure/host/collector.js', dist).href);
  const runtime = createDockerRuntime({ dockerHost: process.env.DOCKER_HOST, log: silent });
  const reader = mode === 'engine-api'
    ? createEngineStatsReader({ client: runtime.client, log: silent })
    : createCgroupUsageReader({
      procRoot: process.env.HOST_PROC, sysRoot: process.env.HOST_SYS, log: silent, syncReads: mode === 'cgroup-sync',
    });
  const host = createHostCollector({ procRoot: process.env.HOST_PROC, runtimeAvailable: () => true });
  const collector = createCollector({ runtime, readers: [reader], host, log: silent, concurrency: Number(concurrencyArg) });
  // The real agent also follows events; keep the stream open so its cost is counted.
  runtime.watchEvents(() => {});
  return async () => {
    const r = await collector.collect();
    containersSeen = r.containers.filter((c) => c.source !== '').length;
  };
}

const round = await makeRound();
setInterval(async () => {
  if (busy) {
    skipped++;
    return;
  }
  busy = true;
  const t0 = performance.now();
  try {
    await round();
  } finally {
    durations.push(performance.now() - t0);
    busy = false;
  }
}, intervalMs);

process.on('SIGTERM', () => {
  const sorted = [...durations].sort((a, b) => a - b);
  const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : 0;
  process.stdout.write(JSON.stringify({
    rounds: durations.length, skipped, containersSeen, meanRoundMs: mean,
    p95RoundMs: sorted[Math.floor(sorted.length * 0.95)] ?? 0, maxRoundMs: sorted[sorted.length - 1] ?? 0,
  }) + '\n', () => process.exit(0));
});
process.stdout.write('ready\n');
