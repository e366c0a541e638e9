// A real Prometheus scrapes Dockwatch's /metrics on loopback while the real collector (Docker
// runtime + cgroup reader) feeds the LatestStore with a container burning half a core. The
// container's CPU rate is then read back through Prometheus' own query API and compared with
// the container's cgroup counter read directly by this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { requireEnv } from '../helpers/env.js';
import type { Logger } from '../../src/application/ports.js';
import { createCollector } from '../../src/application/collect.js';
import { createDockerRuntime } from '../../src/infrastructure/docker/runtime.js';
import { createCgroupUsageReader } from '../../src/infrastructure/cgroup/reader.js';
import { createHostCollector } from '../../src/infrastructure/host/collector.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMetricsExporter } from '../../src/infrastructure/prometheus/exporter.js';
import { startMetricsListener } from '../../src/infrastructure/http/routes/metrics.js';
import { freePort } from '../helpers/wait.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(500);
  }
}

/** Cumulative CPU ns of a container straight from its cgroup (v1 cpuacct or v2 cpu.stat). */
async function cgroupCpuNs(id: string): Promise<number> {
  const candidates = [
    `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`,
    `/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
  ];
  for (const path of candidates) {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    if (path.endsWith('cpu.stat')) return Number(/usage_usec (\d+)/.exec(text)?.[1]) * 1000;
    return Number(text.trim());
  }
  throw new Error(`no cgroup cpu file for ${id}`);
}

interface PromVector { metric: Record<string, string>; value: [number, string] }

async function promQuery(base: string, query: string, timeS?: number): Promise<PromVector[]> {
  const params = new URLSearchParams({ query });
  if (timeS !== undefined) params.set('time', timeS.toFixed(3));
  const res = await fetch(`${base}/api/v1/query?${params}`);
  const body = await res.json() as { status: string; data?: { result: PromVector[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${query}: ${body.error}`);
  return body.data!.result;
}

test('a real Prometheus scraping /metrics sees a real container burn about half a core', { timeout: 240_000 }, async (t) => {
  const dockerHost = requireEnv('TEST_DOCKER_HOST');
  const image = requireEnv('TEST_DOCKER_IMAGE');
  const prometheusBin = requireEnv('TEST_PROMETHEUS');
  const docker = new Docker({ socketPath: dockerHost.replace(/^unix:\/\//, '') });
  const name = `prometheus-burn-${process.pid}-${Date.now()}`;
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-prom-'));
  let prom: ChildProcess | undefined;
  let promLog = '';
  let loop: NodeJS.Timeout | undefined;
  let listener: Awaited<ReturnType<typeof startMetricsListener>> | undefined;
  let runtime: ReturnType<typeof createDockerRuntime> | undefined;
  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: ['sh', '-c', 'while :; do :; done'],
    Labels: { 'dockwatch.test': '1', 'com.example.role': 'burner' },
    HostConfig: { NanoCpus: 500_000_000, NetworkMode: 'none' },
  });
  t.after(async () => {
    if (loop) clearInterval(loop);
    runtime?.close();
    prom?.kill('SIGTERM');
    await listener?.close();
    await container.remove({ force: true }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  await container.start();
  const id = container.id;

  // The real agent side: Docker runtime + cgroup reader, one round a second, into the store.
  runtime = createDockerRuntime({ dockerHost, log: silent });
  const collector = createCollector({
    runtime,
    readers: [createCgroupUsageReader({ log: silent })],
    host: createHostCollector({ runtimeAvailable: () => true, log: silent }),
    log: silent,
  });
  const latest = createMemoryLatestStore();
  let sequence = 0;
  let rounds = 0;
  const round = async () => {
    const r = await collector.collect();
    // Only this test's container: other suites share the daemon.
    const mine = r.containers.filter((c) => c.id === id);
    latest.apply({
      agentId: 'prom-test-agent', hostname: 'prom-test-host', sequence: ++sequence, timestampMs: Date.now(),
      host: r.host, containers: mine, events: [], complete: true, intervalMs: 1000,
    });
    rounds++;
  };
  await round();
  let busy = false;
  loop = setInterval(() => {
    if (busy) return;
    busy = true;
    round().catch(() => {}).finally(() => { busy = false; });
  }, 1000);

  const exporter = createMetricsExporter({ latest });
  listener = await startMetricsListener(0, '127.0.0.1', exporter.render, { token: 'scrape-token' });

  const promPort = await freePort();
  await writeFile(join(dir, 'token'), 'scrape-token');
  await writeFile(join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: dockwatch',
    '    authorization:',
    `      credentials_file: ${join(dir, 'token')}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${listener.port}']`,
    '',
  ].join('\n'));
  prom = spawn(prometheusBin, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--storage.tsdb.retention.time=1h',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stdout!.on('data', (d: Buffer) => { promLog += d.toString(); });
  prom.stderr!.on('data', (d: Buffer) => { promLog = (promLog + d.toString()).slice(-20_000); });
  const promBase = `http://127.0.0.1:${promPort}`;
  await waitFor('prometheus ready', async () => ((await fetch(`${promBase}/-/ready`)).ok ? true : undefined), 60_000)
    .catch((err: Error) => { throw new Error(`${err.message}\n${promLog}`); });

  // The target is up and the container's series carry the documented labels.
  const series = await waitFor('the container in Prometheus', async () => {
    const r = await promQuery(promBase, `container_cpu_usage_seconds_total{name="${name}"}`);
    return r.length > 0 ? r : undefined;
  }, 60_000);
  assert.equal(series.length, 1);
  assert.equal(series[0]!.metric.id, id);
  assert.equal(series[0]!.metric.host, 'prom-test-host');
  assert.equal(series[0]!.metric.image, image);
  assert.equal(series[0]!.metric.container_label_dockwatch_test, '1');
  assert.equal(series[0]!.metric.container_label_com_example_role, 'burner');
  const up = await promQuery(promBase, 'up{job="dockwatch"}');
  assert.equal(up[0]?.value[1], '1');

  // Measure the same window both ways: the cgroup counter directly, and Prometheus' rate().
  await sleep(5_000);
  const windowS = 20;
  const t0 = Date.now();
  const ns0 = await cgroupCpuNs(id);
  await sleep(windowS * 1000);
  const t1 = Date.now();
  const ns1 = await cgroupCpuNs(id);
  const direct = (ns1 - ns0) / 1e9 / ((t1 - t0) / 1000);
  // Let the last scrape of the window land before asking about it.
  await sleep(3_000);
  const rate = await promQuery(promBase, `rate(container_cpu_usage_seconds_total{name="${name}"}[${windowS}s])`, t1 / 1000);
  assert.equal(rate.length, 1, 'one rate series');
  const viaPrometheus = Number(rate[0]!.value[1]);

  t.diagnostic(`cpu cores: cgroup direct ${direct.toFixed(3)}, Prometheus rate ${viaPrometheus.toFixed(3)}, collector rounds ${rounds}`);
  // --cpus 0.5 caps it at half a core; a busy shared machine may give it a little less.
  assert.ok(direct > 0.25 && direct <= 0.56, `the container burned ${direct} cores`);
  assert.ok(Math.abs(viaPrometheus - direct) < 0.1, `Prometheus says ${viaPrometheus}, the cgroup says ${direct}`);

  // The container goes away: its series leave /metrics (and so go stale in Prometheus).
  await container.remove({ force: true });
  await waitFor('the container to leave /metrics', async () => {
    const text = await exporter.render();
    return text.includes(id) ? undefined : true;
  }, 30_000);
  const afterText = await exporter.render();
  assert.doesNotMatch(afterText, new RegExp(name));
  assert.match(afterText, /^dockwatch_host_cpu_percent\{host="prom-test-host"\} /m);
});
