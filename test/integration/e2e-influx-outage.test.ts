// Agent and server as separate real processes, a real container, and a private influxd that is
// killed with SIGKILL for 40 s mid-stream, then started again. The server keeps acking into its
// spool, /health and the logs show the breaker open, probe half-open and close, and afterwards
// InfluxDB holds every sample the agent took, each once (no gap in the series, no duplicate).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { requireEnv } from '../helpers/env.js';
import { dockerCli, freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { startInfluxd, storedTimestamps, type Influxd } from '../helpers/storage-influxd.js';
import { waitFor } from '../helpers/wait.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const docker = dockerCli(DOCKER_HOST);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const procs: RunningCli[] = [];
let containerId = '';
let influxd: Influxd | undefined;
after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  if (containerId) await docker('rm', '-f', containerId).catch(() => undefined);
  if (influxd) { await influxd.kill(); fs.rmSync(influxd.dir, { recursive: true, force: true }); }
});

interface StoreHealth { status: string; breaker: string; spool: { batches: number } }

test('influxd killed -9 for 40 s under a real agent and container: acks go on, the breaker opens and closes, every sample lands once', { timeout: 240_000 }, async () => {
  influxd = await startInfluxd();
  const url = influxd.url;
  containerId = await docker('run', '-d', '--name', `e2e-outage-${process.pid}`, '--label', 'dockwatch.test=1', '--network', 'none', IMAGE, 'sleep', '600');
  const db = `dw_e2e_outage_${process.pid}`;
  const [port, grpcPort] = [await freePort(), await freePort()];
  const server = runCli(['server'], {
    HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), DATA_DIR: tempDir('dw-outage-'),
    INFLUXDB_URL: url, INFLUXDB_BUCKET: db, AGENT_TOKEN: 'outage-test-agent-token',
    JWT_SECRET: 'outage-test-secret-0123456789-0123456789', ADMIN_PASSWORD: 'outage-admin-pw',
    // The default probe delay is 30 s; 5 s keeps the test short, the path is the same.
    BREAKER_RESET: '5s', RETRY_INITIAL_DELAY: '200ms',
  });
  procs.push(server);
  await server.waitFor(/"msg":"server started"/);
  const agent = runCli(['agent'], {
    DOCKER_HOST, SERVER_ADDR: `127.0.0.1:${grpcPort}`, AGENT_TOKEN: 'outage-test-agent-token',
    COLLECT_INTERVAL: '1s', AGENT_ID: `e2e-outage-${process.pid}`,
  });
  procs.push(agent);
  await agent.waitFor(/"msg":"metrics stream connected"/);
  const storeHealth = async (): Promise<StoreHealth> => {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    return ((await res.json()) as { components: { store: StoreHealth } }).components.store;
  };
  await waitFor('first samples in InfluxDB', async () => ((await storedTimestamps(url, db, containerId)).length >= 3 ? true : undefined), 30_000, 250);

  await influxd.kill();
  const killedAt = Date.now();
  const open = await waitFor('breaker open in /health', async () => { const h = await storeHealth(); return h.breaker === 'open' ? h : undefined; }, 30_000, 250)
    .catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(await storeHealth().catch(() => null))}\n${server.output().slice(-3000)}`); });
  assert.equal(open.status, 'degraded');
  await sleep(Math.max(0, 40_000 - (Date.now() - killedAt)));
  const during = await storeHealth();
  assert.ok(during.spool.batches >= 30, `the agent's batches kept being acked into the spool: ${JSON.stringify(during)}`);
  assert.doesNotMatch(agent.output(), /metrics stream lost/, "the agent's stream stayed up while InfluxDB was down");
  await influxd.start();
  const restartedAt = Date.now();
  await waitFor('breaker closed and spool empty', async () => {
    const h = await storeHealth();
    return h.breaker === 'closed' && h.spool.batches === 0 ? h : undefined;
  }, 90_000, 250);
  await sleep(3000);

  // SIGTERM: the agent waits for its last acks, the server writes what is spooled.
  assert.equal(await agent.stop('SIGTERM'), 0, agent.output().slice(-2000));
  assert.match(agent.output(), /"dropped":0/);
  assert.equal(await server.stop('SIGTERM'), 0, server.output().slice(-2000));

  // The breaker's way, from the server's log: open, then the half-open probe, then closed.
  const changes = [...server.output().matchAll(/circuit breaker metrics-store: (\w+) -> (\w+)/g)].map((m) => `${m[1]}->${m[2]}`);
  const o = changes.indexOf('closed->open');
  const h = changes.indexOf('open->halfOpen', o);
  const c = changes.indexOf('halfOpen->closed', h);
  assert.ok(o >= 0 && h > o && c > h, `breaker changes logged: ${changes.join(' ')}`);

  const ts = await storedTimestamps(url, db, containerId);
  assert.equal(new Set(ts).size, ts.length, 'no sample twice');
  const outage = ts.filter((t) => t > killedAt && t < restartedAt);
  assert.ok(outage.length >= 35, `samples taken while influxd was down must arrive after it is back; got ${outage.length} over ${Math.round((restartedAt - killedAt) / 1000)} s`);
  // Collected every second: a lost batch would leave a hole of two intervals or more.
  for (let i = 1; i < ts.length; i++) {
    assert.ok(ts[i]! - ts[i - 1]! < 1900, `gap of ${ts[i]! - ts[i - 1]!} ms at ${new Date(ts[i]!).toISOString()}`);
  }
});
