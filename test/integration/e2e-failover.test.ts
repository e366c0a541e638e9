// Agent failover across replicas (issue 16, item 3), with real processes: one redis-server,
// three `dockwatch server` processes sharing it and one InfluxDB (the suite's influxd, a database
// of this test's own), a real `dockwatch agent` with a real container, and 30 simulated agents
// (the real agent stream client over real gRPC, two containers each). Everyone's SERVER_ADDR lists
// the three replicas. The replica the real agent is on is killed with SIGKILL mid-run: each of its
// agents is on another replica within 2 intervals and resends its unacked batches; the replica is
// started again (same data dir, so its spool of acked batches drains) and its agents come back
// spread over the rebalance window, not all at once; in the end InfluxDB has every sample of every
// container exactly once, with no gap.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv } from '../helpers/env.js';
import { dockerCli, freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { ownRedis, type OwnRedis } from '../helpers/alert-services.js';
import { storedTimestamps } from '../helpers/storage-influxd.js';
import { waitFor } from '../helpers/wait.js';
import { batch, container, testLogger } from '../helpers/grpc-fixtures.js';
import { createAgentStream, type AgentStream } from '../../src/infrastructure/grpc/agent-client.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const INFLUX = requireEnv('TEST_INFLUXDB_URL');
const docker = dockerCli(DOCKER_HOST);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOKEN = 'failover-agent-token';
const SIMULATED = 30;
const INTERVAL_MS = 1000;

const procs: RunningCli[] = [];
const sims: AgentStream[] = [];
const timers: NodeJS.Timeout[] = [];
let containerId = '';
let redis: OwnRedis | undefined;
after(async () => {
  for (const t of timers) clearInterval(t);
  await Promise.all(sims.map((s) => s.close(0)));
  for (const p of procs) await p.stop('SIGKILL');
  if (containerId) await docker('rm', '-f', containerId).catch(() => undefined);
  await redis?.kill();
});

test('SERVER_ADDR with a bad entry: the agent exits 2 naming it', async () => {
  const agent = runCli(['agent'], { DOCKER_HOST, SERVER_ADDR: '127.0.0.1:50051,not a host:1', AGENT_TOKEN: TOKEN });
  assert.equal(await agent.exited, 2);
  assert.match(agent.output(), /SERVER_ADDR=.*"not a host:1" is not/);
});

test('kill -9 of a replica: its agents move to the others within 2 intervals, resend, come back with jitter; no gap, no duplicate', { timeout: 300_000 }, async () => {
  redis = await ownRedis();
  const db = `dw_e2e_failover_${process.pid}`;
  containerId = await docker('run', '-d', '--name', `e2e-failover-${process.pid}`, '--label', 'dockwatch.test=1', '--network', 'none', IMAGE, 'sleep', '600');

  const replicas = await Promise.all([0, 1, 2].map(async (i) => ({
    name: 'abc'[i]!, port: await freePort(), grpcPort: await freePort(), dataDir: tempDir(`dw-failover-${i}-`),
  })));
  const start = (r: (typeof replicas)[number]): RunningCli => {
    const p = runCli(['server'], {
      HOST: '127.0.0.1', PORT: String(r.port), GRPC_PORT: String(r.grpcPort), DATA_DIR: r.dataDir,
      REDIS_URL: redis!.url, INFLUXDB_URL: INFLUX, INFLUXDB_BUCKET: db, AGENT_TOKEN: TOKEN,
      JWT_SECRET: 'failover-test-secret-0123456789-0123456789', ADMIN_PASSWORD: 'failover-admin-pw',
    });
    procs.push(p);
    return p;
  };
  const servers = replicas.map(start);
  await Promise.all(servers.map((s) => s.waitFor(/"msg":"server started"/)));
  const addrs = replicas.map((r) => `127.0.0.1:${r.grpcPort}`);
  const SERVER_ADDR = addrs.join(',');

  // The real agent: the rebalance window is 2-8 s here (30-120 s by default).
  const agent = runCli(['agent'], {
    DOCKER_HOST, SERVER_ADDR, AGENT_TOKEN: TOKEN, COLLECT_INTERVAL: '1s', AGENT_ID: `e2e-failover-${process.pid}`,
    SERVER_REBALANCE_AFTER: '2s',
  });
  procs.push(agent);
  await agent.waitFor(/"msg":"metrics stream connected"/);

  // Simulated agents: one stream each, a batch a second, every timestamp remembered.
  const sent = new Map<string, number[]>();
  for (let i = 0; i < SIMULATED; i++) {
    const agentId = `sim-${process.pid}-${i}`;
    const s = createAgentStream({
      address: SERVER_ADDR, token: TOKEN, log: testLogger(), spreadKey: agentId, rebalance: { minMs: 2000, maxMs: 8000 },
    });
    sims.push(s);
    let seq = Date.now();
    const ids = [`${agentId}-c0`, `${agentId}-c1`];
    for (const id of ids) sent.set(id, []);
    timers.push(setInterval(() => {
      const ts = Date.now();
      for (const id of ids) sent.get(id)!.push(ts);
      s.send(batch(agentId, seq++, { timestampMs: ts, containers: ids.map((id) => container(id, { timestampMs: ts })) }));
    }, INTERVAL_MS));
  }
  await waitFor('every simulated agent connected', () => (sims.every((s) => s.stats().connected) ? true : undefined), 20_000);
  const homes = sims.map((s) => s.stats().server!);
  const perReplica = addrs.map((a) => homes.filter((h) => h === a).length);
  assert.ok(perReplica.every((n) => n >= 4), `agents spread over the replicas: ${perReplica}`);
  await sleep(6000);

  // Kill the replica the real agent is on.
  const realServer = [...agent.output().matchAll(/"server":"([^"]+)"[^\n]*"msg":"metrics stream connected"/g)].at(-1)?.[1];
  const k = addrs.indexOf(realServer ?? '');
  assert.ok(k >= 0, `the real agent's server is logged: ${realServer}`);
  const victims = sims.filter((_, i) => homes[i] === addrs[k]);
  const outBefore = agent.output().length;
  servers[k]!.child.kill('SIGKILL');
  await servers[k]!.exited;
  const killedAt = Date.now();

  // Every agent of the killed replica is connected elsewhere within 2 intervals.
  const movedAt = new Map<AgentStream, number>();
  await waitFor('agents of the killed replica reconnected elsewhere', () => {
    for (const s of victims) {
      const st = s.stats();
      if (!movedAt.has(s) && st.connected && st.server !== addrs[k]) movedAt.set(s, Date.now());
    }
    return movedAt.size === victims.length ? true : undefined;
  }, 10_000, 10);
  const moveDelays = [...movedAt.values()].map((t) => t - killedAt).sort((a, b) => a - b);
  assert.ok(moveDelays.at(-1)! < 2 * INTERVAL_MS, `reconnected within 2 intervals: ${moveDelays} ms`);
  const movedTo = new Set(victims.map((s) => s.stats().server));
  assert.equal(movedTo.size, 2, `the killed replica's agents spread over both others: ${[...movedTo]}`);
  // Full jitter on the first retry: not all at once.
  assert.ok(moveDelays.at(-1)! - moveDelays[0]! > 100, `reconnects spread out: ${moveDelays} ms`);
  // Only output after the kill counts (waitFor on the whole output would match the first connect).
  const reconnectLine = () => [...agent.output().slice(outBefore).matchAll(/"time":(\d+)[^\n]*"msg":"metrics stream connected"/g)][0];
  await waitFor('the real agent reconnected', reconnectLine, 5000, 10).catch(() => undefined);
  const realMove = reconnectLine();
  assert.ok(realMove, `the real agent reconnected:\n${agent.output().slice(outBefore)}`);
  assert.ok(Number(realMove[1]) - killedAt < 2 * INTERVAL_MS, `the real agent reconnected within 2 intervals: ${Number(realMove[1]) - killedAt} ms`);

  // Restart the replica on the same ports and data dir: its agents come back over the window.
  await sleep(4000);
  servers[k] = start(replicas[k]!);
  await servers[k]!.waitFor(/"msg":"server started"/);
  const restartedAt = Date.now();
  const backAt = new Map<AgentStream, number>();
  await waitFor('agents back on their first choice', () => {
    for (const s of victims) if (!backAt.has(s) && s.stats().server === addrs[k]) backAt.set(s, Date.now());
    return backAt.size === victims.length ? true : undefined;
  }, 30_000, 10);
  const backDelays = [...backAt.values()].map((t) => t - restartedAt).sort((a, b) => a - b);
  console.log(`agents per replica ${perReplica}; killed ${addrs[k]} with ${victims.length} simulated agents + the real one`);
  console.log(`failover delays after kill (ms): ${moveDelays.join(' ')}`);
  console.log(`return delays after restart (ms): ${backDelays.join(' ')}`);
  // No thundering herd: returns spread over seconds; no 100 ms holds more than a third of them.
  assert.ok(backDelays.at(-1)! - backDelays[0]! > 1500, `returns spread over the window: ${backDelays}`);
  const maxIn100 = Math.max(...backDelays.map((d) => backDelays.filter((x) => x >= d && x < d + 100).length));
  assert.ok(maxIn100 <= Math.ceil(victims.length / 3), `at most a third back within any 100 ms: ${backDelays}`);
  await agent.waitFor(/moving back to the first-choice server/, 30_000);

  // Stop the load: every simulated batch acked, the real agent flushes on SIGTERM.
  await sleep(2000);
  for (const t of timers) clearInterval(t);
  await Promise.all(sims.map((s) => s.close(15_000)));
  for (const s of sims) assert.equal(s.stats().queued, 0, `all acked: ${JSON.stringify(s.stats())}`);
  for (const s of sims) assert.equal(s.stats().dropped, 0);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.output().slice(-2000));
  assert.match(agent.output(), /"dropped":0/);
  // Each replica writes what it spooled (the restarted one, what it acked before it was killed).
  await waitFor('spools drained', async () => {
    for (const r of replicas) {
      const h = await (await fetch(`http://127.0.0.1:${r.port}/health`)).json() as { components: { store: { spool?: { batches: number } } } };
      if ((h.components.store.spool?.batches ?? 0) > 0) return undefined;
    }
    return true;
  }, 60_000, 250);
  for (const s of servers) assert.equal(await s.stop('SIGTERM'), 0, s.output().slice(-2000));

  // Every simulated sample exactly once; the real container's series without a gap or a repeat.
  for (const [id, want] of sent) {
    const got = await storedTimestamps(INFLUX, db, id);
    assert.equal(new Set(got).size, got.length, `${id}: no sample twice`);
    assert.deepEqual(got, want, `${id}: every sample stored (${got.length} of ${want.length})`);
  }
  const ts = await storedTimestamps(INFLUX, db, containerId);
  assert.equal(new Set(ts).size, ts.length, 'real container: no sample twice');
  assert.ok(ts.some((t) => t > killedAt && t < restartedAt), 'real container: samples across the failover');
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! - ts[i - 1]! < 1900, `real container: gap of ${ts[i]! - ts[i - 1]!} ms at ${new Date(ts[i]!).toISOString()}`);
});
