// Both Dockerfiles built on the local engine and run: the server container answers /health, the agent
// container streams samples of a real container to it. Base image and npm packages come from this
// machine (no registry is reachable from here or from build containers): see test/helpers/deploy-images.ts.
//
// docker-compose.yml is then brought up too, with these local-only changes made to a derived copy
// (deploy-compose-systemd checks the file itself with `docker-compose config`):
//  - influxdb and redis are left out: influxdb:2 and redis:7 cannot be pulled (no registry);
//  - server and agent use network_mode host on 127.0.0.1 with free ports, instead of compose's bridge
//    network, which this engine has disabled (--bridge=none; bridges would hand out private-range addresses);
//  - the images are the ones just built (--no-build), and the agent mounts this engine's socket.
// Not run here, and why:
//  - The production base image node:22-bookworm-slim: it cannot be pulled; BASE_IMAGE points at a local one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { requireEnv } from '../helpers/env.js';
import { buildImage, docker, ensureNodeBaseImage, prepareBuildContext, repoRoot } from '../helpers/deploy-images.js';
import { freePort } from '../helpers/wait.js';

type Any = any;
const run = `deploy-img-${process.pid}`;

/** Stops waiting at once (a container that exited will not come back). */
class Fatal extends Error {}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>, diag: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${String(last ?? '')})\n${diag()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const logs = (name: string): string => {
  const r = spawnSync('docker', ['logs', '--tail', '40', name], { encoding: 'utf8' });
  return `--- logs of ${name}:\n${r.stdout ?? ''}${r.stderr ?? ''}`;
};
const running = (name: string): boolean => docker(['inspect', '--format', '{{.State.Running}}', name], { allowFail: true }) === 'true';

/** Waits for /health 200, fails at once if the container exited. */
async function waitHealthy(http: string, container: string): Promise<Any> {
  return until(`${container} /health`, 90_000, async () => {
    if (!running(container)) throw new Fatal(`${container} exited\n${logs(container)}`);
    const r = await fetch(`${http}/health`);
    return r.status === 200 ? r.json() : undefined;
  }, () => logs(container));
}

/** Logs in as admin and waits until the busy workload shows up with CPU use. */
async function waitForWorkload(http: string, password: string, workload: string, diag: () => string): Promise<{ container: Any; hosts: Any[] }> {
  const login = await fetch(`${http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
  assert.equal(login.status, 200, await login.clone().text());
  const { token } = (await login.json()) as { token: string };
  const headers = { authorization: `Bearer ${token}` };
  const container: Any = await until(`${workload} in /api/containers with CPU use`, 90_000, async () => {
    const list = (await (await fetch(`${http}/api/containers?name=${workload}`, { headers })).json()) as Any[];
    const c = list.find((x) => x.name === workload);
    return c && c.stats?.cpu_percent > 10 ? c : undefined;
  }, diag);
  const hosts = (await (await fetch(`${http}/api/hosts`, { headers })).json()) as Any[];
  return { container, hosts };
}

test('Dockerfile.server and Dockerfile.agent build, run read-only as non-root, and samples flow (docker run and compose)', { timeout: 1_500_000 }, async (t) => {
  const dockerHost = requireEnv('TEST_DOCKER_HOST');
  process.env.DOCKER_HOST = dockerHost;
  const busybox = requireEnv('TEST_DOCKER_IMAGE');
  const startedAt = new Date().toISOString();
  const timings: Record<string, number> = {};
  const timed = <T>(k: string, fn: () => T): T => {
    const t0 = Date.now();
    try { return fn(); } finally { timings[k] = Date.now() - t0; }
  };

  const base = timed('base image', () => ensureNodeBaseImage());
  const ctx = timed('build context + offline npm cache', () => prepareBuildContext());
  const serverImg = `dockwatch-test/server:${run}`;
  const agentImg = `dockwatch-test/agent:${run}`;
  const names = { server: `${run}-server`, agent: `${run}-agent`, workload: `${run}-workload` };
  const volume = `${run}-data`;
  t.after(() => {
    docker(['rm', '-f', names.server, names.agent, names.workload], { allowFail: true });
    docker(['volume', 'rm', '-f', volume], { allowFail: true });
    docker(['rmi', '-f', serverImg, agentImg], { allowFail: true });
    // vfs stores every build layer as a full copy: drop build-cache chains older than this run (dangling
    // only, never a tagged image). This run's chains stay as the layer cache for the next run.
    docker(['image', 'prune', '-f', '--filter', `until=${startedAt}`], { allowFail: true });
    t.diagnostic(`timings ms: ${JSON.stringify(timings)}`);
  });
  timed('build server', () => buildImage(ctx.dir, 'Dockerfile.server', serverImg, base));
  timed('build agent', () => buildImage(ctx.dir, 'Dockerfile.agent', agentImg, base));

  // What the images declare.
  for (const [img, cmd] of [[serverImg, 'server'], [agentImg, 'agent']] as const) {
    const cfg: Any = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', img]));
    assert.equal(cfg.User, '10001:10001', `${img} runs as non-root`);
    assert.deepEqual(cfg.Cmd, ['node', 'dist/cli.js', cmd]);
    assert.ok(cfg.Env.includes('NODE_ENV=production'));
    assert.ok(cfg.Healthcheck?.Test?.length > 1, `${img} has a HEALTHCHECK`);
  }
  const agentCfg: Any = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', agentImg]));
  assert.match(agentCfg.Labels['io.dockwatch.mounts'], /docker\.sock:ro.*\/proc:\/host\/proc:ro.*\/sys:\/host\/sys:ro/);
  // No dev dependency made it into the runtime image.
  assert.equal(docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', serverImg, '-c', 'ls node_modules/typescript node_modules/tsx 2>/dev/null | wc -l']), '0');

  // ---- plain `docker run`, as docs/deploy.md shows it ----
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const secrets = { JWT_SECRET: `jwt-${run}-0123456789abcdef`, ADMIN_PASSWORD: `pw-${run}-Aa1!`, AGENT_TOKEN: `agent-${run}-token` };
  timed('server start', () => docker(['run', '-d', '--name', names.server, '--label', 'dockwatch.test=1',
    // Host network so the agent container reaches it on 127.0.0.1; it binds loopback only.
    '--network', 'host', '--read-only', '--tmpfs', '/tmp', '-v', `${volume}:/data`,
    '-e', 'HOST=127.0.0.1', '-e', `PORT=${httpPort}`, '-e', `GRPC_PORT=${grpcPort}`, '-e', 'LOG_LEVEL=info',
    ...Object.entries(secrets).flatMap(([k, v]) => ['-e', `${k}=${v}`]), serverImg]));
  const http = `http://127.0.0.1:${httpPort}`;
  const health: Any = await waitHealthy(http, names.server);
  assert.ok(['ok', 'degraded'].includes(health.status), JSON.stringify(health));

  // A workload to observe, and the agent with the mounts its image documents.
  docker(['run', '-d', '--name', names.workload, '--label', 'dockwatch.test=1', '--network', 'none', busybox, 'sh', '-c', 'while :; do :; done']);
  const socketPath = dockerHost.replace(/^unix:\/\//, '');
  const socketGid = statSync(socketPath).gid;
  docker(['run', '-d', '--name', names.agent, '--label', 'dockwatch.test=1', '--network', 'host',
    '--read-only', '--tmpfs', '/tmp', '--group-add', String(socketGid),
    '-v', `${socketPath}:/var/run/docker.sock:ro`, '-v', '/proc:/host/proc:ro', '-v', '/sys:/host/sys:ro',
    '-e', `SERVER_ADDR=127.0.0.1:${grpcPort}`, '-e', `AGENT_TOKEN=${secrets.AGENT_TOKEN}`, '-e', `AGENT_ID=${run}`,
    '-e', 'COLLECT_INTERVAL=1s', agentImg]);

  const { container: seen, hosts } = await waitForWorkload(http, secrets.ADMIN_PASSWORD, names.workload,
    () => `${logs(names.agent)}\n${logs(names.server)}`);
  assert.equal(seen.state, 'running');
  assert.ok(seen.stats.pids >= 1);
  assert.ok(hosts.some((h) => JSON.stringify(h).includes(run)), 'the agent reports its host');

  // Both HEALTHCHECKs pass inside the running containers.
  await until('both containers healthy', 120_000, async () => {
    const states = [names.server, names.agent].map((n) => docker(['inspect', '--format', '{{.State.Health.Status}}', n]));
    return states.every((s) => s === 'healthy') ? true : undefined;
  }, () => docker(['inspect', '--format', '{{json .State.Health}}', names.agent], { allowFail: true }));
  // The root filesystem really is read-only; DATA_DIR is the writable volume.
  assert.notEqual(docker(['exec', names.server, 'sh', '-c', 'touch /app/x && echo wrote || echo refused']), 'wrote');
  assert.equal(docker(['exec', names.server, 'sh', '-c', 'touch /data/x && echo wrote || echo refused']), 'wrote');

  // SIGTERM stops both cleanly (exit 0).
  docker(['stop', '-t', '20', names.agent]);
  docker(['stop', '-t', '20', names.server]);
  assert.equal(docker(['inspect', '--format', '{{.State.ExitCode}}', names.server]), '0', logs(names.server));
  assert.equal(docker(['inspect', '--format', '{{.State.ExitCode}}', names.agent]), '0', logs(names.agent));

  // ---- docker-compose.yml with the same images (local-only changes listed in the header) ----
  const project = `deployimg${process.pid}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockwatch-compose-'));
  const compose: Any = parseYaml(readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'));
  delete compose.services.influxdb;
  delete compose.services.redis;
  const [cHttp, cGrpc] = [await freePort(), await freePort()];
  for (const [svc, img] of [['server', serverImg], ['agent', agentImg]] as const) {
    Object.assign(compose.services[svc], { image: img, network_mode: 'host', labels: { 'dockwatch.test': '1' } });
    for (const k of ['ports', 'depends_on', 'build']) delete compose.services[svc][k];
  }
  Object.assign(compose.services.server.environment, { HOST: '127.0.0.1', PORT: String(cHttp), GRPC_PORT: String(cGrpc), INFLUXDB_URL: '', REDIS_URL: '' });
  Object.assign(compose.services.agent.environment, { SERVER_ADDR: `127.0.0.1:${cGrpc}`, AGENT_ID: `${run}-compose` });
  compose.services.agent.volumes = compose.services.agent.volumes.map((v: string) =>
    (v.startsWith('/var/run/docker.sock:') ? `${socketPath}:/var/run/docker.sock:ro` : v));
  writeFileSync(path.join(dir, 'docker-compose.yml'), toYaml(compose));
  // .env as a user writes it from .env.example.
  const composeSecret = `compose-${run}-secret-0123456789`;
  writeFileSync(path.join(dir, '.env'), readFileSync(path.join(repoRoot, '.env.example'), 'utf8')
    .replace(/=CHANGE_ME$/gm, `=${composeSecret}`).replace(/^DOCKER_GID=.*$/m, `DOCKER_GID=${socketGid}`));
  const dcArgs = ['--project-directory', dir, '-p', project, '-f', path.join(dir, 'docker-compose.yml')];
  const dc = (args: string[]): string => {
    const r = spawnSync('docker-compose', [...dcArgs, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: dockerHost }, timeout: 180_000 });
    assert.equal(r.status, 0, `docker-compose ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  t.after(() => {
    spawnSync('docker-compose', [...dcArgs, 'down', '-v', '-t', '10'], { env: { ...process.env, DOCKER_HOST: dockerHost }, timeout: 120_000 });
  });
  timed('compose up', () => dc(['up', '-d', '--no-build']));
  const cUrl = `http://127.0.0.1:${cHttp}`;
  await waitHealthy(cUrl, `${project}_server_1`);
  const viaCompose = await waitForWorkload(cUrl, composeSecret, names.workload,
    () => `${logs(`${project}_agent_1`)}\n${logs(`${project}_server_1`)}`);
  assert.equal(viaCompose.container.state, 'running');
  assert.ok(viaCompose.hosts.some((h) => JSON.stringify(h).includes(`${run}-compose`)), 'the compose agent reports its host');
  dc(['stop', '-t', '20']);
});
