// Agent and server as separate real processes, InfluxDB as the store. The server is killed with
// SIGKILL mid-stream and started again: the agent keeps unacked batches and resends them, so
// InfluxDB ends up with every sample the agent took, each once (no gap in the series).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv } from '../helpers/env.js';
import { dockerCli, freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { storedTimestamps } from '../helpers/storage-influxd.js';
import { createMetricsSubscriber } from '../../src/infrastructure/grpc/subscribe-client.js';
import type { ContainerSample } from '../../src/domain/types.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const INFLUX = requireEnv('TEST_INFLUXDB_URL');
const docker = dockerCli(DOCKER_HOST);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const procs: RunningCli[] = [];
let containerId = '';
after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  if (containerId) await docker('rm', '-f', containerId).catch(() => undefined);
});

test('kill -9 of the server mid-stream loses no sample (gapless series in InfluxDB), and /api/metrics returns the values the agent sent', async () => {
  containerId = await docker('run', '-d', '--name', `e2e-restart-${process.pid}`, '--label', 'dockwatch.test=1', '--network', 'none', IMAGE, 'sleep', '600');
  const db = `dw_e2e_restart_${process.pid}`;
  const dataDir = tempDir('dw-restart-');
  const [port, grpcPort] = [await freePort(), await freePort()];
  const serverEnv = {
    HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), DATA_DIR: dataDir,
    INFLUXDB_URL: INFLUX, INFLUXDB_BUCKET: db, AGENT_TOKEN: 'restart-test-agent-token',
    JWT_SECRET: 'restart-test-secret-0123456789-0123456789', ADMIN_PASSWORD: 'restart-admin-pw',
  };
  const startServer = async () => {
    const s = runCli(['server'], serverEnv);
    procs.push(s);
    await s.waitFor(/"msg":"server started"/);
    return s;
  };
  let server = await startServer();
  const agent = runCli(['agent'], {
    DOCKER_HOST, SERVER_ADDR: `127.0.0.1:${grpcPort}`, AGENT_TOKEN: 'restart-test-agent-token',
    COLLECT_INTERVAL: '1s', AGENT_ID: `e2e-restart-${process.pid}`,
  });
  procs.push(agent);
  await agent.waitFor(/"msg":"metrics stream connected"/);
  await sleep(5000);

  const killedAt = Date.now();
  server.child.kill('SIGKILL');
  await server.exited;
  await sleep(5000); // the agent keeps collecting and queueing while the server is gone
  server = await startServer();
  // The agent reconnects with jittered backoff (up to several seconds after a 5 s outage); its
  // resends follow the reconnect, so wait for that rather than for a fixed time.
  await agent.waitFor(/metrics stream connected[\s\S]*metrics stream connected/, 45_000);

  // What the agent sends, as a SubscribeToMetrics client sees it live, must be what /api/metrics returns.
  const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'restart-admin-pw' }),
  });
  const { token } = (await login.json()) as { token: string };
  const sent: ContainerSample[] = [];
  const sub = createMetricsSubscriber({ address: `127.0.0.1:${grpcPort}`, token });
  const cancel = sub.subscribe({ containerIds: [containerId] }, (b) => {
    if (b.sequence !== 0) sent.push(...b.containers);
  }, () => undefined);
  await sleep(6000);
  cancel();
  sub.close();
  assert.ok(sent.length >= 3, `subscriber saw ${sent.length} live samples`);
  const from = new Date(sent[0]!.timestampMs - 1000).toISOString();
  const to = new Date(sent.at(-1)!.timestampMs + 1000).toISOString();
  // 100 ms steps put at most one sample in a bucket, so the stored values come back as sent.
  // Live fan-out runs ahead of storage (and the spool's writer runs behind the ack), so the
  // newest samples may take a moment to show in history.
  const bucket = (ts: number): number => Math.floor(ts / 100) * 100;
  let points: Array<Record<string, number | null>> = [];
  for (const deadline = Date.now() + 10_000; ;) {
    const res = await fetch(`http://127.0.0.1:${port}/api/metrics?container_id=${containerId}&from=${from}&to=${to}&step=100ms`,
      { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    points = ((await res.json()) as { points: Array<Record<string, number | null>> }).points;
    if (sent.every((x) => points.some((p) => p.ts === bucket(x.timestampMs))) || Date.now() > deadline) break;
    await sleep(200);
  }
  for (const s of sent) {
    const p = points.find((x) => x.ts === bucket(s.timestampMs));
    assert.ok(p, `sample at ${s.timestampMs} missing from /api/metrics`);
    assert.ok(Math.abs(p.cpu_percent! - s.cpuPercent) < 1e-6, `cpu_percent ${p.cpu_percent} vs sent ${s.cpuPercent}`);
    assert.equal(p.mem_usage_bytes, s.memUsageBytes);
    assert.equal(p.pids, s.pids);
  }

  // SIGTERM: the agent waits for its last acks before it exits.
  assert.equal(await agent.stop('SIGTERM'), 0, agent.output().slice(-2000));
  assert.match(agent.output(), /"dropped":0/);
  assert.equal(await server.stop('SIGTERM'), 0, server.output().slice(-2000));

  const ts = await storedTimestamps(INFLUX, db, containerId);
  assert.ok(ts.length >= 14, `expected at least 14 points, got ${ts.length}: ${ts.map((t) => t - killedAt).join(",")}\n${server.output().slice(-3000)}\n${agent.output().slice(-3000)}`);
  const covered = ts.filter((t) => t > killedAt && t < killedAt + 5000);
  assert.ok(covered.length >= 3, `samples taken while the server was down must arrive after the restart; got ${covered.length}`);
  // Collected every second: a lost batch would leave a hole of two intervals or more.
  for (let i = 1; i < ts.length; i++) {
    assert.ok(ts[i]! - ts[i - 1]! < 1900, `gap of ${ts[i]! - ts[i - 1]!} ms at ${new Date(ts[i]!).toISOString()}`);
  }
  assert.equal(new Set(ts).size, ts.length);
});
