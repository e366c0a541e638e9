// Benchmark (issue 2, part 2): delivery latency from "sample taken" (the container sample's
// timestamp, set when its cgroup files were read) to "sample received" on a /ws client and on a
// SubscribeToMetrics client, through the real `dockwatch all` process (dist/cli.js), real
// containers and a real engine. Same machine, same clock.
// Settings: BENCH_LAT_CONTAINERS (default 10), BENCH_LAT_WINDOW_S (30), DOCKER_HOST / TEST_DOCKER_HOST, TEST_DOCKER_IMAGE.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { createMetricsSubscriber } from '../src/infrastructure/grpc/subscribe-client.js';
import { freePort, runCli, tempDir } from '../test/helpers/cli-process.js';

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LatencyStats { n: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number }
export interface LatencyResult { containers: number; windowS: number; intervalMs: number; ws: LatencyStats; grpc: LatencyStats }

export function percentiles(values: number[]): LatencyStats {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN);
  return { n: s.length, p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: s.at(-1) ?? NaN };
}

export async function runLatency(opts: { containers?: number; windowS?: number } = {}): Promise<LatencyResult> {
  const n = opts.containers ?? Number(process.env.BENCH_LAT_CONTAINERS ?? 10);
  const windowS = opts.windowS ?? Number(process.env.BENCH_LAT_WINDOW_S ?? 30);
  const dockerHost = process.env.TEST_DOCKER_HOST ?? process.env.DOCKER_HOST;
  const image = process.env.TEST_DOCKER_IMAGE ?? 'dockwatch-test/busybox:latest';
  if (!dockerHost) throw new Error('DOCKER_HOST/TEST_DOCKER_HOST not set (scripts/services.sh up)');
  const docker = (...a: string[]) => exec('docker', a, { env: { ...process.env, DOCKER_HOST: dockerHost } }).then((r) => r.stdout.trim());

  const ids = await Promise.all(Array.from({ length: n }, (_, i) =>
    docker('run', '-d', '--name', `bench-lat-${process.pid}-${i}`, '--label', 'dockwatch.bench=1', '--network', 'none', image, 'sleep', '3600')));
  const [port, grpcPort] = [await freePort(), await freePort()];
  const cli = runCli(['all'], {
    DOCKER_HOST: dockerHost, DATA_DIR: tempDir('dw-bench-lat-'), PORT: String(port), GRPC_PORT: String(grpcPort),
    COLLECT_INTERVAL: '1s', ADMIN_PASSWORD: 'bench-password-123', LOG_LEVEL: 'warn',
  });
  const wsLat: number[] = [];
  const grpcLat: number[] = [];
  try {
    await cli.waitFor(/is running/);
    const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-password-123' }),
    });
    const { token } = (await login.json()) as { token: string };
    await sleep(3000); // let the first rounds (and their snapshots) pass: they are not live deliveries
    let measuring = false;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}&label=dockwatch.bench`);
    ws.on('message', (d) => {
      const now = Date.now();
      const m = JSON.parse(d.toString()) as { type: string; container?: { stats: { ts: number } } };
      if (measuring && m.type === 'sample' && m.container) wsLat.push(now - m.container.stats.ts);
    });
    const sub = createMetricsSubscriber({ address: `127.0.0.1:${grpcPort}`, token });
    const cancel = sub.subscribe({ labels: ['dockwatch.bench'] }, (batch) => {
      const now = Date.now();
      if (!measuring || batch.sequence === 0) return; // snapshot messages are not live deliveries
      for (const c of batch.containers) grpcLat.push(now - c.timestampMs);
    }, () => undefined);
    await sleep(2000);
    measuring = true;
    await sleep(windowS * 1000);
    measuring = false;
    cancel();
    sub.close();
    ws.close();
  } finally {
    await cli.stop('SIGTERM');
    await docker('rm', '-f', ...ids).catch(() => undefined);
  }
  return { containers: n, windowS, intervalMs: 1000, ws: percentiles(wsLat), grpc: percentiles(grpcLat) };
}

export function printLatency(r: LatencyResult): void {
  const row = (name: string, s: LatencyStats) =>
    `| ${name} | ${s.n} | ${s.p50Ms.toFixed(1)} | ${s.p95Ms.toFixed(1)} | ${s.p99Ms.toFixed(1)} | ${s.maxMs.toFixed(1)} |`;
  console.log(`\nDelivery latency, sample taken -> received (${r.containers} containers at 1 s, ${r.windowS} s window)`);
  console.log('| client | samples | p50 ms | p95 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- |');
  console.log(row('/ws (WebSocket)', r.ws));
  console.log(row('SubscribeToMetrics (gRPC)', r.grpc));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href || fileURLToPath(import.meta.url) === process.argv[1]) {
  runLatency().then((r) => { printLatency(r); console.log(JSON.stringify(r)); }, (e) => { console.error(e); process.exit(1); });
}
