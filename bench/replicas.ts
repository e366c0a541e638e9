// Replica benchmark (issue 16, item 2): real `dockwatch server` processes (built CLI) on loopback
// sharing one redis-server and one private influxd. Saturation throughput (closed loop, a window
// of 2 unacked batches per agent, 50 containers a batch) of one replica, then of three with the
// agents spread over them, both against the InfluxDB ceiling of the same run and with every
// process's CPU, so what stops the scaling is measured. During the three-replica phase a probe
// agent streams to replica C (a batch every 100 ms, stamped with the send time) and a /ws client
// and a SubscribeToMetrics client on replica A time its samples' arrival; then three replicas again
// at a load the machine carries (15 agents at one batch a second), for the same latency without
// CPU starvation. Every replica has WEBHOOK_URL on one stand-in and a rule that fires for one
// container per agent (95 % CPU) in the three-replica phases: the stand-in counts the firing
// notifications per alert (rule, host, container), which must be exactly one each across the
// replicas (agent_offline, once per agent after the load stops, is counted too). Bounded:
// every phase stops by itself; loopback only.
//
// Run alone: node --import tsx bench/replicas.ts [measured seconds]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { ceiling, grpcRun, type GrpcRate } from './ingest.js';
import { startInfluxd } from '../test/helpers/storage-influxd.js';
import { ownRedis } from '../test/helpers/alert-services.js';
import { freePort, runCli, tempDir, type RunningCli } from '../test/helpers/cli-process.js';
import { loadMetricsService } from '../src/infrastructure/grpc/proto.js';
import { createAgentStream } from '../src/infrastructure/grpc/agent-client.js';
import { batch, testLogger } from '../test/helpers/grpc-fixtures.js';

const TOKEN = 'bench-replicas-agent-token';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

type CrossReplica = { probes: number; grpcP50Ms: number; grpcP99Ms: number; grpcSeen: number; wsP50Ms: number; wsP99Ms: number; wsSeen: number };
/**
 * Firing notifications the webhook stand-in received in a phase, per rule: how many, for how many
 * distinct alerts (rule, host, container), and how many of those came more than once. The cpu
 * rule fires for the hot containers; agent_offline fires once per agent host after the load stops.
 */
type AlertCount = { hotContainers: number; byRule: Record<string, { notifications: number; alerts: number; notifiedMoreThanOnce: number }> };

export interface ReplicaPhase {
  replicas: number; agents: number;
  /** saturation: closed loop, as fast as the acks allow; light: one batch a second per agent (open loop). */
  load: 'saturation' | 'light';
  ackedSamplesPerSec: number; p95Ms: number;
  serverCpuPercent: number[]; serverRssMaxMb: number[]; influxdCpuPercent: number; redisCpuPercent: number; machineCpuPercent: number;
  generatorCpuPercent: number;
  crossReplica?: CrossReplica;
  alerts?: AlertCount;
}
export interface ReplicasResult {
  machine: Record<string, string | number>; influxCeilingPointsPerSec: number; phases: ReplicaPhase[]; speedup: number;
  /** Under saturation (the three-replica saturation phase), and at a load the machine carries (the light phase). */
  crossReplica: CrossReplica; crossReplicaLight?: CrossReplica;
}

/** A webhook stand-in: counts the firing notifications per alert (`WEBHOOK_URL` of every replica). */
async function startHookCounter(): Promise<{ url: string; reset(): void; count(hot: number): AlertCount; close(): void }> {
  let firing = new Map<string, number>();
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      try {
        const m = JSON.parse(body) as { type: string; alert?: { containerId: string; ruleId: string; host: string; state: string } };
        const a = m.alert;
        if (m.type === 'alert' && a?.state === 'firing') {
          const key = JSON.stringify([a.ruleId, a.host, a.containerId]);
          firing.set(key, (firing.get(key) ?? 0) + 1);
        }
      } catch { /* not ours */ }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`,
    reset: () => { firing = new Map(); },
    count: (hot) => {
      const byRule: AlertCount['byRule'] = {};
      for (const [key, n] of firing) {
        const rule = (JSON.parse(key) as string[])[0]!;
        const r = (byRule[rule] ??= { notifications: 0, alerts: 0, notifiedMoreThanOnce: 0 });
        r.notifications += n; r.alerts++; if (n > 1) r.notifiedMoreThanOnce++;
      }
      return { hotContainers: hot, byRule };
    },
    close: () => { srv.close(); },
  };
}

export async function runReplicas(opts: { seconds?: number; agents?: number; lightAgents?: number; print?: (l: string) => void } = {}): Promise<ReplicasResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 20;
  const warmupMs = 5000;
  const agents = opts.agents ?? 60;
  const perBatch = 50;
  const lightAgents = opts.lightAgents ?? 15;
  const influxd = await startInfluxd();
  const redis = await ownRedis();
  const hook = await startHookCounter();
  const procs: RunningCli[] = [];
  // One rule that fires for the hot containers (95 % CPU, see hotContainers) and nothing else.
  const rules = path.join(tempDir('dw-bench-rep-rules-'), 'rules.yaml');
  fs.writeFileSync(rules, 'rules:\n  - { id: cpu, threshold: 90, for: 2s }\n  - { id: cpu_spike, enabled: false }\n');
  const common = {
    HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: redis.url, INFLUXDB_URL: influxd.url, AGENT_TOKEN: TOKEN,
    JWT_SECRET: 'bench-replicas-secret-0123456789-0123456789', ADMIN_PASSWORD: 'bench-replicas-pw',
    WEBHOOK_URL: hook.url, ALERT_RULES_FILE: rules,
  };
  const HOT = 1; // per agent
  const startReplicas = async (n: number, bucket: string) => {
    const rs = await Promise.all(Array.from({ length: n }, async () => ({ port: await freePort(), grpcPort: await freePort() })));
    const ps = rs.map((r) => runCli(['server'], { ...common, INFLUXDB_BUCKET: bucket, PORT: String(r.port), GRPC_PORT: String(r.grpcPort), DATA_DIR: tempDir('dw-bench-rep-') }));
    procs.push(...ps);
    // LOG_LEVEL=warn hides the "server started" line; the banner says it too.
    await Promise.all(ps.map((p) => p.waitFor(/server started|Dockwatch server is running/, 60_000)));
    return rs.map((r, i) => ({ ...r, proc: ps[i]! }));
  };
  try {
    const version = (await fetch(`${influxd.url}/ping`)).headers.get('x-influxdb-version') ?? 'unknown';
    const machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memGb: round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, influxd: version };
    const ceil = await ceiling(influxd.url, 8);
    print(`replicas: InfluxDB ceiling (same run): ${ceil} points/s`);
    // redis-server rewrites its process title to "redis-server 127.0.0.1:<port>".
    const redisPid = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).find((p) => {
      try { const c = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); return c.startsWith('redis-server') && c.includes(`:${redis.port}`); } catch { return false; }
    });
    const phases: ReplicaPhase[] = [];
    let cross: CrossReplica = { probes: 0, grpcP50Ms: NaN, grpcP99Ms: NaN, grpcSeen: 0, wsP50Ms: NaN, wsP99Ms: NaN, wsSeen: 0 };
    let crossLight: CrossReplica | undefined;

    // Saturation on one replica and on three; then three at a load the machine carries, for the
    // cross-replica latency without CPU starvation. Alerts are counted whenever three replicas run.
    const plan: Array<{ n: number; load: 'saturation' | 'light' }> = [{ n: 1, load: 'saturation' }, { n: 3, load: 'saturation' }, { n: 3, load: 'light' }];
    for (const { n, load } of plan) {
      await sleep(3000);
      const bucket = `bench_replicas_${n}_${load}_${Date.now()}`;
      const rs = await startReplicas(n, bucket);
      hook.reset();
      let probe: (() => Promise<CrossReplica>) | undefined;
      if (n === 3) probe = await startProbe(rs[0]!.port, rs[0]!.grpcPort, rs[2]!.grpcPort, warmupMs);
      const phaseAgents = load === 'light' ? lightAgents : agents;
      const perReplica = Math.ceil(phaseAgents / n);
      const runs: GrpcRate[] = await Promise.all(rs.map((r, i) => grpcRun(r.grpcPort, r.proc.child.pid!, {
        agents: perReplica, perBatch, seconds, warmupMs, window: 2, token: TOKEN, tagPrefix: `r${i}`,
        ...(load === 'light' ? { batchesPerSec: perReplica } : { maxBatchesPerSec: 3000 / n }),
        ...(n === 3 ? { hotContainers: HOT } : {}),
        watch: { influxd: influxd.pid(), redis: redisPid },
      }, n === 1 ? 2 : 1)));
      const c = probe ? await probe() : undefined;
      if (c && load === 'saturation') cross = c;
      if (c && load === 'light') crossLight = c;
      let alerts: AlertCount | undefined;
      if (n === 3) {
        // Notifications go out after the rule's `for`, through each replica's delivery queue; agent_offline
        // fires 3 intervals after the agents stopped: wait for both.
        await sleep(6000);
        alerts = hook.count(perReplica * n * HOT);
      }
      const p: ReplicaPhase = {
        replicas: n, agents: perReplica * n, load, ackedSamplesPerSec: runs.reduce((a, r) => a + r.containerSamplesPerSec, 0),
        p95Ms: Math.max(...runs.map((r) => r.p95Ms)),
        serverCpuPercent: runs.map((r) => r.serverCpuPercent), serverRssMaxMb: runs.map((r) => r.serverRssMaxMb),
        influxdCpuPercent: runs[0]!.watchedCpuPercent.influxd ?? NaN, redisCpuPercent: runs[0]!.watchedCpuPercent.redis ?? NaN,
        machineCpuPercent: runs[0]!.machineCpuPercent, generatorCpuPercent: round(runs.reduce((a, r) => a + r.generatorCpuPercent, 0)),
        ...(c ? { crossReplica: c } : {}), ...(alerts ? { alerts } : {}),
      };
      phases.push(p);
      print(`replicas: ${JSON.stringify(p)}`);
      for (const r of rs) await r.proc.stop('SIGKILL');
      await fetch(`${influxd.url}/query?q=${encodeURIComponent(`DROP DATABASE "${bucket}"`)}`, { method: 'POST' }).catch(() => undefined);
    }
    const speedup = round(phases[1]!.ackedSamplesPerSec / phases[0]!.ackedSamplesPerSec, 2);
    print(`replicas: three vs one: ${speedup}x; cross-replica delivery under saturation: ${JSON.stringify(cross)}; at ${lightAgents} agents: ${JSON.stringify(crossLight)}`);
    return { machine, influxCeilingPointsPerSec: ceil, phases, speedup, crossReplica: cross, ...(crossLight ? { crossReplicaLight: crossLight } : {}) };
  } finally {
    hook.close();
    for (const p of procs) await p.stop('SIGKILL');
    await redis.kill();
    await influxd.kill();
    fs.rmSync(influxd.dir, { recursive: true, force: true });
  }
}

/** The probe: an agent on replica C, a SubscribeToMetrics client and a /ws client on replica A. */
async function startProbe(httpA: number, grpcA: number, grpcC: number, warmupMs: number): Promise<() => Promise<ReplicasResult['crossReplica']>> {
  const grpcLat: number[] = [];
  const wsLat: number[] = [];
  const login = await fetch(`http://127.0.0.1:${httpA}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-replicas-pw' }),
  });
  const { token } = await login.json() as { token: string };
  const Ctor = loadMetricsService();
  const sub = new Ctor(`127.0.0.1:${grpcA}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { SubscribeToMetrics(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<{ sequence: string | number; host?: { timestampMs: string | number } | null }> };
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const stream = sub.SubscribeToMetrics({ hosts: ['probe-host'], includeHost: true }, md);
  stream.on('data', (m) => { if (Number(m.sequence) > 0 && m.host) grpcLat.push(Date.now() - Number(m.host.timestampMs)); });
  stream.on('error', () => undefined);
  const ws = new WebSocket(`ws://127.0.0.1:${httpA}/ws?token=${encodeURIComponent(token)}&host=probe-host`);
  let wsReady = 0;
  ws.on('open', () => { wsReady = Date.now(); });
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; host?: string; sample?: { ts: number } };
    if (m.type === 'host' && m.host === 'probe-host' && m.sample && wsReady) wsLat.push(Date.now() - m.sample.ts);
  });
  const agent = createAgentStream({ address: `127.0.0.1:${grpcC}`, token: TOKEN, log: testLogger(), rebalance: false });
  let seq = Date.now();
  let probes = 0;
  let measuring = false;
  setTimeout(() => { measuring = true; grpcLat.length = 0; wsLat.length = 0; }, warmupMs);
  const timer = setInterval(() => {
    const now = Date.now();
    agent.send(batch('probe', seq++, { hostname: 'probe-host', timestampMs: now, containers: [], host: { ...batch('p', 1).host!, timestampMs: now } }));
    if (measuring) probes++;
  }, 100);
  return async () => {
    clearInterval(timer);
    await sleep(1000);
    await agent.close(2000);
    stream.cancel();
    sub.close();
    ws.close();
    return {
      probes, grpcSeen: grpcLat.length, grpcP50Ms: round(pct(grpcLat, 50)), grpcP99Ms: round(pct(grpcLat, 99)),
      wsSeen: wsLat.length, wsP50Ms: round(pct(wsLat, 50)), wsP99Ms: round(pct(wsLat, 99)),
    };
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runReplicas({ seconds: Number(process.argv[2] ?? 20) }).then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
}
