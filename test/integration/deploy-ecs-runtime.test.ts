// The ECS adapter against real Docker Engine JSON: a local HTTP server on 127.0.0.1 plays the
// task metadata endpoint v4, building /task from `docker inspect` of this test's containers and
// /task/stats from the engine's own `GET /containers/{id}/stats?stream=false`, live on every request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { requireEnv } from '../helpers/env.js';
import { createEcsRuntime } from '../../src/infrastructure/ecs/runtime.js';
import type { Logger } from '../../src/application/ports.js';
import type { ContainerEvent } from '../../src/domain/types.js';
import { waitFor } from '../helpers/wait.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function dockerFromEnv(): Docker {
  const host = requireEnv('TEST_DOCKER_HOST');
  assert.ok(host.startsWith('unix://'), 'TEST_DOCKER_HOST must be a unix socket');
  return new Docker({ socketPath: host.slice('unix://'.length) });
}

test('ECS runtime lists, reads and follows real containers served in the task metadata v4 layout', async (t) => {
  const docker = dockerFromEnv();
  const image = requireEnv('TEST_DOCKER_IMAGE');
  const runId = `deploy-ecs-${process.pid}-${Date.now()}`;
  const created: Docker.Container[] = [];
  t.after(async () => {
    for (const c of created) await c.remove({ force: true }).catch(() => {});
  });

  const mk = async (suffix: string, cmd: string[], memory: number): Promise<Docker.Container> => {
    const c = await docker.createContainer({
      name: `${runId}-${suffix}`, Image: image, Cmd: cmd,
      Labels: { 'dockwatch.test': '1', 'dockwatch.test.run': runId, 'com.amazonaws.ecs.container-name': suffix },
      HostConfig: { NetworkMode: 'none', Memory: memory },
    });
    created.push(c);
    await c.start();
    return c;
  };
  const busy = await mk('app', ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=16; while :; do :; done'], 256 * 1024 * 1024);
  const quitter = await mk('job', ['sh', '-c', 'sleep 6; exit 3'], 64 * 1024 * 1024);

  const statsRequests: string[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const listed = await docker.listContainers({ all: true, filters: { label: [`dockwatch.test.run=${runId}`] } });
      const inspected = await Promise.all(listed.map((c) => docker.getContainer(c.Id).inspect()));
      if (req.url === '/task') {
        const body = {
          Cluster: 'local-test', TaskARN: `arn:aws:ecs:eu-west-1:000000000000:task/local-test/${runId}`,
          Family: 'dockwatch-test', Revision: '1', DesiredStatus: 'RUNNING', KnownStatus: 'RUNNING',
          Limits: { CPU: 0.5, Memory: 512 }, LaunchType: 'FARGATE',
          Containers: [
            { DockerId: 'pause0000', Name: '~internal~ecs~pause', Type: 'CNI_PAUSE', KnownStatus: 'RESOURCES_PROVISIONED', Labels: {} },
            ...inspected.map((i) => ({
              DockerId: i.Id,
              Name: i.Config.Labels['com.amazonaws.ecs.container-name'],
              DockerName: i.Name.replace(/^\//, ''),
              Image: i.Config.Image,
              ImageID: i.Image,
              Labels: i.Config.Labels,
              DesiredStatus: 'RUNNING',
              KnownStatus: i.State.Running ? 'RUNNING' : 'STOPPED',
              ...(i.State.Running ? {} : { ExitCode: i.State.ExitCode }),
              Limits: { CPU: 0, Memory: i.HostConfig.Memory ? i.HostConfig.Memory / 1024 / 1024 : 0 },
              CreatedAt: i.Created, StartedAt: i.State.StartedAt,
              Type: 'NORMAL',
            })),
          ],
        };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      } else if (req.url === '/task/stats') {
        statsRequests.push(req.url);
        // The endpoint gives null for containers that are not running.
        const pairs = await Promise.all(inspected.map(async (i) => [i.Id,
          i.State.Running ? await docker.getContainer(i.Id).stats({ stream: false }) : null] as const));
        const out = Object.fromEntries(pairs);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(out));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    })().catch((e: unknown) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;

  const { runtime, usage } = createEcsRuntime({ metadataUri: `http://127.0.0.1:${port}/`, log: silent, eventPollMs: 300,
    // The engine's stream=false stats call waits for its collection tick (the real endpoint answers at once).
    timeoutMs: 15_000 });

  // The pause container is left out; both workloads are listed with their ECS names and labels.
  const list = await runtime.listContainers();
  assert.deepEqual(list.map((c) => c.name).sort(), ['app', 'job']);
  const app = list.find((c) => c.name === 'app');
  assert.ok(app);
  assert.equal(app.id, busy.id);
  assert.equal(app.state, 'running');
  assert.equal(app.labels['dockwatch.test.run'], runId);
  assert.ok(app.startedAtMs > Date.now() - 120_000);

  const events: ContainerEvent[] = [];
  const stop = runtime.watchEvents((e) => events.push(e));
  t.after(stop);

  // Two reads a moment apart: counters come from the engine's real stats JSON.
  const u1 = await usage.read(app);
  assert.ok(u1, 'a running container has stats');
  await new Promise((r) => setTimeout(r, 1200));
  const u2 = await usage.read(app);
  assert.ok(u2);
  assert.equal(u2.source, 'ecs');
  assert.ok(u2.cpuUsageNs > u1.cpuUsageNs, 'a busy loop adds CPU time');
  assert.ok(u2.systemCpuNs > u1.systemCpuNs);
  assert.ok(u2.onlineCpus >= 1);
  assert.ok(u2.memRawUsageBytes >= 16 * 1024 * 1024, `16 MiB in /dev/shm is charged (got ${u2.memRawUsageBytes})`);
  assert.equal(u2.memLimitBytes, 256 * 1024 * 1024);
  assert.ok(u2.pids >= 1);
  const pct = ((u2.cpuUsageNs - u1.cpuUsageNs) / (u2.systemCpuNs - u1.systemCpuNs)) * u2.onlineCpus * 100;
  assert.ok(pct > 20, `a spinning shell uses most of a core (got ${pct.toFixed(1)}%)`);
  // A container unknown to the task is not ours to read.
  assert.equal(await usage.read({ ...app, id: 'not-in-this-task' }), null);

  // Lifecycle events are synthesized from successive /task snapshots (watched from here on).
  const died = await waitFor('die of job', () => events.find((e) => e.action === 'die' && e.containerId === quitter.id));
  assert.equal(died.exitCode, 3);
  assert.equal(died.containerName, 'job');
  const job = (await runtime.listContainers()).find((c) => c.name === 'job');
  assert.equal(job?.state, 'exited');
  assert.equal(job && (await usage.read(job)), null, 'a stopped container has no stats');

  await busy.remove({ force: true });
  await waitFor('destroy of app', () => events.find((e) => e.action === 'destroy' && e.containerId === busy.id));
  assert.ok(events.some((e) => e.action === 'die' && e.containerId === busy.id), 'a vanished running container died first');
  assert.ok(!events.some((e) => e.action === 'start'), 'containers running at the first poll are the baseline, not starts');

  const late = await mk('late', ['sleep', '30'], 0);
  const started = await waitFor('start of late', () => events.find((e) => e.action === 'start' && e.containerId === late.id));
  assert.equal(started.containerName, 'late');
  const lateInfo = (await runtime.listContainers()).find((c) => c.name === 'late');
  assert.ok(lateInfo);
  const lu = await usage.read(lateInfo);
  // No container limit: the task's 512 MiB applies instead of the engine's "unlimited".
  assert.equal(lu?.memLimitBytes, 512 * 1024 * 1024);
  assert.ok(statsRequests.length >= 3);
});

test('ECS runtime reports an unreachable metadata endpoint as UNAVAILABLE', async () => {
  const server = http.createServer((_req, res) => { res.statusCode = 500; res.end(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    const { runtime } = createEcsRuntime({ metadataUri: `http://127.0.0.1:${port}`, log: silent });
    await assert.rejects(runtime.listContainers(), (e: { code?: string; canRetry?: () => boolean }) =>
      e.code === 'UNAVAILABLE' && e.canRetry?.() === true);
  } finally {
    server.close();
  }
});
