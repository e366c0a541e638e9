// Two real `dockwatch server` processes share one real Redis; one agent streams to replica A.
// A container burns CPU above a lowered threshold for longer than the rule's `for`: the webhook
// gets exactly one firing and one resolved notification, not one per replica, and replica B
// shows the container too (the metrics bus goes through Redis).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { requireEnv } from '../helpers/env.js';
import { freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { repeatedKeys } from '../helpers/json-keys.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const docker = (...args: string[]) => exec('docker', args, { env: { ...process.env, DOCKER_HOST } }).then((r) => r.stdout.trim());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Hook { type: string; alert?: { ruleId: string; state: string; containerName: string; host: string; value: number; threshold: number } }
const received: Hook[] = [];
let hookServer: Server;
let redis: ChildProcess;
const procs: RunningCli[] = [];
let containerId = '';

before(async () => {
  // A private redis-server: the stream and cooldown keys of this test start empty.
  const redisPort = await freePort();
  redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', tempDir('dw-rep-redis-')], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    const ok = await exec('redis-cli', ['-p', String(redisPort), 'ping']).then(() => true, () => false);
    if (ok) break;
    await sleep(100);
  }
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { received.push(JSON.parse(body) as Hook); res.writeHead(204).end(); });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', () => r()));
  process.env.E2E_REDIS_PORT = String(redisPort);
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  if (containerId) await docker('rm', '-f', containerId).catch(() => undefined);
  redis?.kill('SIGKILL');
  hookServer?.close();
});

test('two replicas sharing Redis send one firing and one resolved notification; both see the container', async () => {
  const rules = `${tempDir('dw-rep-rules-')}/rules.yaml`;
  writeFileSync(rules, 'rules:\n  - { id: cpu, threshold: 20, for: 2s }\n  - { id: cpu_spike, enabled: false }\n');
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;
  const common = {
    HOST: '127.0.0.1', REDIS_URL: `redis://127.0.0.1:${process.env.E2E_REDIS_PORT}`, WEBHOOK_URL: hookUrl, ALERT_RULES_FILE: rules,
    AGENT_TOKEN: 'replica-agent-token', JWT_SECRET: 'replica-test-secret-0123456789-0123456789', ADMIN_PASSWORD: 'replica-admin-pw',
  };
  const ports = { a: await freePort(), ag: await freePort(), b: await freePort(), bg: await freePort() };
  const a = runCli(['server'], { ...common, PORT: String(ports.a), GRPC_PORT: String(ports.ag), DATA_DIR: tempDir('dw-rep-a-') });
  const b = runCli(['server'], { ...common, PORT: String(ports.b), GRPC_PORT: String(ports.bg), DATA_DIR: tempDir('dw-rep-b-') });
  procs.push(a, b);
  await Promise.all([a.waitFor(/"msg":"server started"/), b.waitFor(/"msg":"server started"/)]);
  const agent = runCli(['agent'], {
    DOCKER_HOST, SERVER_ADDR: `127.0.0.1:${ports.ag}`, AGENT_TOKEN: 'replica-agent-token', COLLECT_INTERVAL: '1s', AGENT_ID: `e2e-rep-${process.pid}`,
  });
  procs.push(agent);
  await agent.waitFor(/"msg":"metrics stream connected"/);

  // Burns half a core for 20 s, then idles.
  const name = `e2e-rep-burn-${process.pid}`;
  containerId = await docker('run', '-d', '--name', name, '--label', 'dockwatch.test=1', '--network', 'none', '--cpus', '0.5', IMAGE,
    'sh', '-c', 'yes > /dev/null & p=$!; sleep 20; kill $p; sleep 3600');

  const login = await fetch(`http://127.0.0.1:${ports.b}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'replica-admin-pw' }),
  });
  const { token } = (await login.json()) as { token: string };
  await waitFor('replica B shows the container streamed to replica A', async () => {
    const list = (await (await fetch(`http://127.0.0.1:${ports.b}/api/containers`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{ id: string }>;
    return list.some((c) => c.id === containerId) ? true : undefined;
  }, 20_000);

  // Dashboards on either replica get the transition live on /ws from the replica that claimed it.
  const wsAlerts: Array<{ state: string; containerName: string; ruleId: string }> = [];
  const sockets = [ports.a, ports.b].map((p) => {
    const ws = new WebSocket(`ws://127.0.0.1:${p}/ws?token=${encodeURIComponent(token)}`);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; alert?: { state: string; containerName: string; ruleId: string } };
      if (m.type === 'alert' && m.alert?.containerName === name && m.alert.ruleId === 'cpu') wsAlerts.push(m.alert);
    });
    return ws;
  });

  const mine = (state: string) => received.filter((h) => h.type === 'alert' && h.alert?.ruleId === 'cpu' && h.alert.containerName === name && h.alert.state === state);
  const firing = await waitFor('firing notification', () => mine('firing')[0], 30_000);
  assert.ok(firing.alert!.value > 20 && firing.alert!.threshold === 20, JSON.stringify(firing));
  await waitFor('resolved notification after the container calms down', () => mine('resolved')[0], 45_000);
  await sleep(3000); // room for a duplicate from the other replica to arrive, if there were one
  assert.equal(mine('firing').length, 1, JSON.stringify(received.map((h) => h.alert)));
  assert.equal(mine('resolved').length, 1, JSON.stringify(received.map((h) => h.alert)));
  assert.deepEqual(wsAlerts.map((a) => a.state), ['firing', 'resolved']);
  for (const ws of sockets) ws.close();

  const health = (await (await fetch(`http://127.0.0.1:${ports.b}/health`)).json()) as { components: { redis: { status: string } } };
  assert.equal(health.components.redis.status, 'ok');
  // With Redis every replica-side component logs (bus, relay, alert stream): each key once per line.
  for (const l of [a, b, agent].flatMap((p) => p.output().split('\n')).filter((x) => x.startsWith('{'))) {
    assert.deepEqual(repeatedKeys(l), [], l);
  }
});
