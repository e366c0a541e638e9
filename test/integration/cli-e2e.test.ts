// The walking skeleton end to end, through the real CLI: `dockwatch all` against the real
// Docker engine; containers appear and disappear in /api/containers and on /ws within one
// interval; SIGTERM exits 0; bad settings exit 2 before any port is bound.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { requireEnv } from '../helpers/env.js';
import { freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait.js';
import { repeatedKeys } from '../helpers/json-keys.js';

const exec = promisify(execFile);
const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const docker = (...args: string[]) => exec('docker', args, { env: { ...process.env, DOCKER_HOST } }).then((r) => r.stdout.trim());

const INTERVAL_MS = 1000;
let cli: RunningCli;
let base: string;
let token: string;
const started: string[] = [];

before(async () => {
  const [port, grpcPort] = [await freePort(), await freePort()];
  cli = runCli(['all'], {
    DOCKER_HOST, DATA_DIR: tempDir('dw-e2e-'), PORT: String(port), GRPC_PORT: String(grpcPort),
    COLLECT_INTERVAL: '1s', ADMIN_PASSWORD: 'e2e-admin-password', JWT_SECRET: 'e2e-secret-that-is-long-enough-0123456789',
  });
  await cli.waitFor(/Dockwatch \(server \+ agent\) is running/);
  base = `http://127.0.0.1:${port}`;
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'e2e-admin-password' }),
  });
  assert.equal(res.status, 200);
  token = ((await res.json()) as { token: string }).token;
});

after(async () => {
  if (started.length) await docker('rm', '-f', ...started).catch(() => undefined);
  await cli?.stop('SIGKILL');
});

interface Item { id: string; name: string; state: string; stats: { cpu_percent: number; ts: number } }

async function containers(): Promise<Item[]> {
  const res = await fetch(`${base}/api/containers`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as Item[];
}

test('a started container shows up in /api/containers and on /ws within one interval of the start event', async () => {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}&name=e2e-*`);
  const seen: Array<{ name: string; state: string; at: number }> = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; container?: Item };
    if (m.type === 'sample' && m.container) seen.push({ name: m.container.name, state: m.container.state, at: Date.now() });
  });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });

  const name = `e2e-start-${process.pid}`;
  const id = await docker('run', '-d', '--name', name, '--label', 'dockwatch.test=1', '--network', 'none', IMAGE, 'sleep', '300');
  started.push(id);
  const t0 = Date.now();
  // The start event triggers a collection at once; allow one interval plus scheduling slack on a busy machine.
  const item = await waitFor('container in /api/containers', async () => (await containers()).find((c) => c.id === id && c.state === 'running'), 10_000);
  assert.equal(item.name, name);
  const wsSeen = await waitFor('container on /ws', async () => seen.find((s) => s.name === name && s.state === 'running'), 10_000);
  assert.ok(wsSeen.at - t0 < INTERVAL_MS + 3000, `seen on /ws ${wsSeen.at - t0} ms after start`);

  // A sample from another container must not reach a client filtered on e2e-*.
  assert.ok(seen.every((s) => s.name.startsWith('e2e-')), 'the /ws name filter let other containers through');

  await docker('kill', id);
  const t1 = Date.now();
  await waitFor('killed container shows exited on /ws', async () => seen.find((s) => s.name === name && s.state === 'exited' && s.at >= t1), 10_000);
  const after = (await containers()).find((c) => c.id === id);
  assert.equal(after?.state, 'exited');

  await docker('rm', '-f', id);
  await waitFor('removed container leaves /api/containers', async () => ((await containers()).some((c) => c.id === id) ? undefined : true), 10_000);
  ws.close();
});

test('a busy container reads about 50% CPU through the whole pipeline (--cpus 0.5)', async () => {
  const name = `e2e-burn-${process.pid}`;
  const id = await docker('run', '-d', '--name', name, '--label', 'dockwatch.test=1', '--network', 'none', '--cpus', '0.5', IMAGE, 'sh', '-c', 'while :; do :; done');
  started.push(id);
  const readings: number[] = [];
  await waitFor('five CPU readings', async () => {
    const c = (await containers()).find((x) => x.id === id);
    if (c && c.stats.cpu_percent > 0 && readings.at(-1) !== c.stats.cpu_percent) readings.push(c.stats.cpu_percent);
    return readings.length >= 5 ? true : undefined;
  }, 30_000);
  const sorted = [...readings].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  // The quota caps it at 50%; a loaded 2-core test machine can starve it a little below.
  assert.ok(median > 30 && median <= 56, `median CPU ${median}% from ${readings.join(', ')}`);
  await docker('rm', '-f', id);
});

test('every JSON log line of `all` (server and agent) carries each key once', () => {
  const lines = cli.output().split('\n').filter((l) => l.startsWith('{'));
  const programs = new Set(lines.map((l) => (JSON.parse(l) as { program?: string }).program));
  assert.ok(programs.has('dockwatch-all') && programs.has('dockwatch-agent'), `lines of both parts: ${[...programs].join(', ')}`);
  for (const l of lines) assert.deepEqual(repeatedKeys(l), [], l);
});

test('SIGTERM shuts down gracefully with exit code 0', async () => {
  const [port, grpcPort] = [await freePort(), await freePort()];
  const p = runCli(['all'], { DOCKER_HOST, DATA_DIR: tempDir('dw-term-'), PORT: String(port), GRPC_PORT: String(grpcPort), COLLECT_INTERVAL: '1s' });
  await p.waitFor(/"msg":"metrics stream connected"/);
  const code = await p.stop('SIGTERM');
  assert.equal(code, 0, p.output().slice(-2000));
  assert.match(p.output(), /"msg":"server stopped"/);
});

const badSettings: Array<[string, Record<string, string>, RegExp]> = [
  ['COLLECT_INTERVAL=fast', { COLLECT_INTERVAL: 'fast' }, /COLLECT_INTERVAL="fast": expected a duration/],
  ['PORT out of range', { PORT: '70000' }, /PORT="70000": expected a number from 1 to 65535/],
  ['a production start without JWT_SECRET', { NODE_ENV: 'production' }, /JWT_SECRET: required when NODE_ENV=production/],
];
for (const [what, env, message] of badSettings) {
  test(`${what} exits with code 2 before binding any port`, async () => {
    // Hold a port: if the program tried to bind it before validating, it would fail differently.
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const held = (holder.address() as { port: number }).port;
    const p = runCli(['all'], { DOCKER_HOST, DATA_DIR: tempDir('dw-bad-'), GRPC_PORT: String(held), PORT: String(held + 1), ...env });
    const code = await p.exited;
    holder.close();
    assert.equal(code, 2, p.output());
    assert.match(p.output(), message);
    assert.doesNotMatch(p.output(), /EADDRINUSE|listening/);
  });
}

test('a bad alert rules file exits with code 2 naming the file and the path inside it', async () => {
  const dir = tempDir('dw-rules-');
  const file = `${dir}/rules.yaml`;
  await import('node:fs/promises').then((fs) => fs.writeFile(file, 'rules:\n  - id: cpu\n    threshold: lots\n'));
  const p = runCli(['server'], { DATA_DIR: dir, HOST: '127.0.0.1', PORT: String(await freePort()), GRPC_PORT: String(await freePort()), ALERT_RULES_FILE: file });
  const code = await p.exited;
  assert.equal(code, 2, p.output());
  assert.match(p.output(), new RegExp(`${file.replace(/[/.]/g, '\\$&')}.*rules`));
});
