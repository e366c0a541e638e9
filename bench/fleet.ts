// Fleet benchmark (issue 16, item 1): one server process and many agents, each one StreamMetrics
// stream over real gRPC, 50 containers a batch, one batch a second per agent (open loop: the
// agents keep their pace whatever the acks do), the real proto, acks and the server's flow
// control (bench/ingest-agents.ts, bench/ingest-server.ts). 40, 500 and 1,000 agents into
// InfluxDB (a private influxd, its ceiling measured in the same run), then 500 into the embedded
// store. Per phase: p95 ack, the server's peak RSS, the slowest agent's acked batches against the
// mean (starvation), the spool backlog, and, once the spool is drained, the samples InfluxDB holds
// against the samples acked. Bounded: each phase stops by itself (warm-up + measured seconds,
// then at most 90 s of draining); traffic only on loopback.
//
// Run alone: node --import tsx bench/fleet.ts [measured seconds]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ceiling, cpuTicks, grpcRun, startServer, stopServer, type GrpcRate } from './ingest.js';
import { startInfluxd } from '../test/helpers/storage-influxd.js';

export interface FleetPhase {
  store: 'influx' | 'sqlite';
  agents: number;
  offeredSamplesPerSec: number;
  ackedSamplesPerSec: number;
  p50Ms: number; p95Ms: number; p99Ms: number;
  serverRssMaxMb: number; serverCpuPercent: number; machineCpuPercent: number; influxdCpuPercent?: number;
  /** The simulated agents' processes together (% of one core): they share the cores with the server. */
  generatorCpuPercent: number;
  /** Batches acked per agent over the window: the slowest, the mean, and slowest / mean. */
  slowestAgentAcked: number; meanAgentAcked: number; slowestVsMean: number;
  /** Batches sent in the window and not acked by its end. */
  backlog: number;
  /** Container samples acked over the whole phase, and what InfluxDB holds once the spool drained. */
  ackedSamples: number; storedSamples?: number; spoolDrainedAfterMs?: number;
  /** Records acked (fsynced in the spool) but not yet in InfluxDB when the window ended: how far "stored" lags "acked". */
  spoolRecordsAtWindowEnd?: number; spoolMbAtWindowEnd?: number;
  /** SPOOL_MAX_LAG_BYTES of the phase in MiB, when not the default 256: how far InfluxDB may fall behind the acks. */
  spoolMaxLagMb?: number;
}

export interface FleetResult { machine: Record<string, string | number>; influxCeilingPointsPerSec: number; influxCeilingAt25kSeriesPointsPerSec?: number; phases: FleetPhase[] }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

async function countStored(url: string, db: string): Promise<number> {
  const r = await fetch(`${url}/query?db=${db}&q=${encodeURIComponent('SELECT count(cpu_percent) FROM container')}`);
  const body = await r.json() as { results: Array<{ series?: Array<{ values: Array<[unknown, number]> }> }> };
  return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

function phaseOf(store: 'influx' | 'sqlite', agents: number, perBatch: number, r: GrpcRate): FleetPhase {
  const per = r.perAgentAcked.slice(0, agents);
  const mean = per.reduce((a, b) => a + b, 0) / Math.max(1, per.length);
  const min = Math.min(...per);
  return {
    store, agents, offeredSamplesPerSec: agents * perBatch, ackedSamplesPerSec: r.containerSamplesPerSec,
    p50Ms: r.p50Ms, p95Ms: r.p95Ms, p99Ms: r.p99Ms,
    serverRssMaxMb: r.serverRssMaxMb, serverCpuPercent: r.serverCpuPercent, machineCpuPercent: r.machineCpuPercent, generatorCpuPercent: r.generatorCpuPercent,
    ...(r.watchedCpuPercent.influxd !== undefined ? { influxdCpuPercent: r.watchedCpuPercent.influxd } : {}),
    slowestAgentAcked: min, meanAgentAcked: round(mean), slowestVsMean: round(min / Math.max(1e-9, mean), 3),
    backlog: r.backlog, ackedSamples: r.ackedBatchesAll * perBatch,
    ...(r.store ? { spoolRecordsAtWindowEnd: r.store.spoolRecordsEnd, spoolMbAtWindowEnd: r.store.spoolMbEnd } : {}),
  };
}

export async function runFleet(opts: { seconds?: number; warmupSeconds?: number; agents?: number[]; sqliteAgents?: number; print?: (l: string) => void } = {}): Promise<FleetResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 20;
  const warmupMs = (opts.warmupSeconds ?? 5) * 1000;
  const perBatch = 50;
  const influxd = await startInfluxd();
  const url = influxd.url;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-fleet-bench-'));
  try {
    const version = (await fetch(`${url}/ping`)).headers.get('x-influxdb-version') ?? 'unknown';
    const machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memGb: round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, influxd: version };
    print(`fleet: machine ${JSON.stringify(machine)}`);
    // influxd's CPU per 1,000 points while f runs (ms of CPU).
    const cpuPerKPoints = async (f: () => Promise<number>, secs: number): Promise<[number, number]> => {
      const t0 = cpuTicks(influxd.pid()!);
      const rate = await f();
      return [rate, round(((cpuTicks(influxd.pid()!) - t0) * 10) / ((rate * secs) / 1000), 2)];
    };
    const [ceil, ceilCpu] = await cpuPerKPoints(() => ceiling(url, 8), 8);
    print(`fleet: InfluxDB ceiling (same run, 4 writers x 5,000-point pre-built requests, 1,000 series): ${ceil} points/s, influxd ${ceilCpu} CPU-ms per 1,000 points`);
    // The same over as many series as 500 agents x 50 containers write: what a point costs influxd
    // depends on how many series the points are spread over, not only on how many there are.
    await sleep(3000);
    const [ceilFleetSeries, ceilFleetCpu] = await cpuPerKPoints(() => ceiling(url, 8, 5000, undefined, 25_000), 8);
    print(`fleet: InfluxDB ceiling over 25,000 series: ${ceilFleetSeries} points/s, influxd ${ceilFleetCpu} CPU-ms per 1,000 points`);
    const phases: FleetPhase[] = [];
    const run = async (store: 'influx' | 'sqlite', agents: number, maxLagMb?: number): Promise<void> => {
      await sleep(3000); // let influxd finish the previous phase's compactions
      const bucket = `bench_fleet_${store}_${agents}_${Date.now()}`;
      const srv = await startServer({
        store, url, bucket, dataDir: path.join(tmp, `${store}-${agents}-${maxLagMb ?? 'd'}`),
        ...(maxLagMb ? { resilient: { maxLagBytes: maxLagMb * 1024 * 1024 } } : {}),
      });
      try {
        const r = await grpcRun(srv.port, srv.child.pid!, {
          agents, perBatch, seconds, warmupMs, window: 2, batchesPerSec: agents, watch: { influxd: influxd.pid() }, stats: srv.stats,
        }, agents >= 500 ? 4 : 2);
        const p = phaseOf(store, agents, perBatch, r);
        if (maxLagMb) p.spoolMaxLagMb = maxLagMb;
        if (store === 'influx') {
          // Acked means durable in the spool: wait for the spool to reach InfluxDB, then count.
          const t0 = Date.now();
          while (Date.now() - t0 < 90_000 && (srv.stats()?.spoolBatches ?? 1) > 0) await sleep(500);
          p.spoolDrainedAfterMs = Date.now() - t0;
          p.storedSamples = await countStored(url, bucket);
        }
        phases.push(p);
        print(`fleet: ${JSON.stringify(p)}`);
      } finally {
        await stopServer(srv.child);
        await fetch(`${url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' }).catch(() => undefined);
      }
    };
    // BENCH_FLEET_AGENTS=500 (comma-separated) and BENCH_FLEET_SQLITE=0 narrow a run to what is being worked on.
    const agentsEnv = process.env.BENCH_FLEET_AGENTS?.split(',').map(Number).filter((n) => n > 0);
    for (const n of opts.agents ?? agentsEnv ?? [40, 500, 1000]) await run('influx', n);
    // The same 500 agents with InfluxDB allowed to lag the acks by 16 MiB of spool (about 2 s
    // of this load) instead of 256: acked and stored stay close, and the acks carry InfluxDB's pace.
    const lagMb = Number(process.env.BENCH_FLEET_LAG_MB ?? 16);
    if (lagMb > 0 && (opts.agents ?? agentsEnv ?? [500]).includes(500)) await run('influx', 500, lagMb);
    const sqliteAgents = opts.sqliteAgents ?? Number(process.env.BENCH_FLEET_SQLITE ?? 500);
    if (sqliteAgents > 0) await run('sqlite', sqliteAgents);
    printFleet({ machine, influxCeilingPointsPerSec: ceil, influxCeilingAt25kSeriesPointsPerSec: ceilFleetSeries, phases }, print);
    return { machine, influxCeilingPointsPerSec: ceil, influxCeilingAt25kSeriesPointsPerSec: ceilFleetSeries, phases };
  } finally {
    await influxd.kill();
    fs.rmSync(influxd.dir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function printFleet(r: FleetResult, print: (l: string) => void = console.log): void {
  print(`\nFleet (one server process), InfluxDB ceiling in the same run: ${r.influxCeilingPointsPerSec} points/s (1,000 series), ${r.influxCeilingAt25kSeriesPointsPerSec ?? 'n/a'} points/s (25,000 series)`);
  print('| store | agents | offered samples/s | acked samples/s | p50 / p95 / p99 ack ms | server RSS MB | server CPU % | slowest agent / mean | backlog | acked samples | stored samples |');
  print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const p of r.phases) {
    print(`| ${p.store}${p.spoolMaxLagMb ? ` (lag ${p.spoolMaxLagMb} MiB)` : ''} | ${p.agents} | ${p.offeredSamplesPerSec} | ${p.ackedSamplesPerSec} | ${p.p50Ms} / ${p.p95Ms} / ${p.p99Ms} | ${p.serverRssMaxMb} | ${p.serverCpuPercent} | ${p.slowestVsMean} | ${p.backlog} | ${p.ackedSamples} | ${p.storedSamples ?? 'n/a'} |`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runFleet({ seconds: Number(process.argv[2] ?? 20) }).then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
}
