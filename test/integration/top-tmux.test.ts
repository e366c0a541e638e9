// `dockwatch top` in a real terminal (tmux) against the real gRPC server, fed by the real
// collector reading three real containers: one burning CPU, one holding memory, one idle.
// Keys are sent with `tmux send-keys`, the screen is read with `tmux capture-pane -p`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { requireEnv } from '../helpers/env.js';
import type { Logger } from '../../src/application/ports.js';
import { AppError } from '../../src/application/errors.js';
import { createCollector } from '../../src/application/collect.js';
import { createDockerRuntime } from '../../src/infrastructure/docker/runtime.js';
import { createCgroupUsageReader } from '../../src/infrastructure/cgroup/reader.js';
import { createHostCollector } from '../../src/infrastructure/host/collector.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createGrpcServer, type GrpcServer } from '../../src/infrastructure/grpc/server.js';
import { freePort } from '../helpers/wait.js';

const run = promisify(execFile);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = 'test/helpers/top-entry.ts';
const TOKEN = 'top-viewer-token';

/** One private tmux server per test run (own socket), so nothing touches the user's tmux. */
class Tmux {
  constructor(private readonly socket: string) {}
  async tmux(...args: string[]): Promise<string> {
    const { stdout } = await run('tmux', ['-S', this.socket, ...args], { cwd: ROOT });
    return stdout;
  }
  /** Starts `top` in a new window; after it exits the shell prints its exit code and tty mode. */
  async start(name: string, topArgs: string, env = '', size = { x: 200, y: 40 }): Promise<void> {
    const cmd = `${env} ${process.execPath} --import tsx ${ENTRY} ${topArgs}; echo TOP-EXIT=$?; stty -a | grep -o -- '-\\?icanon'; sleep 600`;
    // tmux hands the command to `sh -c` itself: no extra quoting layer that would expand $? early.
    await this.tmux('new-session', '-d', '-s', name, '-x', String(size.x), '-y', String(size.y), '-c', ROOT, cmd);
  }
  screen(name: string): Promise<string> { return this.tmux('capture-pane', '-p', '-t', name); }
  async keys(name: string, ...keys: string[]): Promise<void> { await this.tmux('send-keys', '-t', name, ...keys); }
  async waitScreen(name: string, what: string, ok: (screen: string) => boolean, ms = 30_000): Promise<string> {
    const end = Date.now() + ms;
    let last = '';
    for (;;) {
      last = await this.screen(name);
      if (ok(last)) return last;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen was:\n${last}`);
      await sleep(250);
    }
  }
  async kill(): Promise<void> { await this.tmux('kill-server').catch(() => {}); }
}

/** Names of our containers in the order the screen lists them. */
function listed(screen: string, prefix: string): string[] {
  return screen.split('\n').map((l) => new RegExp(`(${prefix}[a-z-]+)`).exec(l)?.[1]).filter((n): n is string => !!n);
}

interface Fixture {
  port: number;
  prefix: string;
  stop(): Promise<void>;
}

async function startServerWithContainers(): Promise<Fixture> {
  const dockerHost = requireEnv('TEST_DOCKER_HOST');
  const image = requireEnv('TEST_DOCKER_IMAGE');
  const docker = new Docker({ socketPath: dockerHost.replace(/^unix:\/\//, '') });
  const prefix = `top${process.pid}-`;
  const specs: Array<{ name: string; cmd: string; cpus?: number }> = [
    { name: `${prefix}aa-idle`, cmd: 'sleep 3600' },
    { name: `${prefix}mm-mem`, cmd: 'dd if=/dev/zero of=/dev/shm/f bs=1M count=48 2>/dev/null; sleep 3600' },
    { name: `${prefix}zz-burn`, cmd: 'while :; do :; done', cpus: 0.5 },
  ];
  const containers = await Promise.all(specs.map((s) => docker.createContainer({
    name: s.name, Image: image, Cmd: ['sh', '-c', s.cmd], Labels: { 'dockwatch.test': '1' },
    HostConfig: { NetworkMode: 'none', ShmSize: 128 * 2 ** 20, ...(s.cpus ? { NanoCpus: s.cpus * 1e9 } : {}) },
  })));
  await Promise.all(containers.map((c) => c.start()));

  const latest = createMemoryLatestStore();
  const bus = createMemoryBus();
  const server: GrpcServer = createGrpcServer({
    ingest: async () => { throw new AppError('INTERNAL', 'not used in this test'); },
    bus, latest, log: silent,
    authorize: async (md) => {
      const header = String(md.get('authorization')[0] ?? '');
      if (header !== `Bearer ${TOKEN}`) throw new AppError('UNAUTHENTICATED', 'invalid token');
    },
  });
  const port = await server.listen('127.0.0.1', 0);

  const runtime = createDockerRuntime({ dockerHost, log: silent });
  const collector = createCollector({
    runtime,
    readers: [createCgroupUsageReader({ log: silent })],
    host: createHostCollector({ runtimeAvailable: () => true, log: silent }),
    log: silent,
  });
  let sequence = 0;
  let busy = false;
  const round = async () => {
    const r = await collector.collect();
    const b = {
      agentId: 'top-test-agent', hostname: 'top-test-host', sequence: ++sequence, timestampMs: Date.now(),
      host: r.host, containers: r.containers.filter((c) => c.name.replace(/^\//, '').startsWith(prefix)),
      events: [], complete: true, intervalMs: 1000,
    };
    latest.apply(b);
    await bus.publish(b);
  };
  const loop = setInterval(() => {
    if (busy) return;
    busy = true;
    round().catch(() => {}).finally(() => { busy = false; });
  }, 1000);
  return {
    port,
    prefix,
    async stop() {
      clearInterval(loop);
      runtime.close();
      await server.close(1000).catch(() => {});
      await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => {})));
    },
  };
}

test('dockwatch top in tmux: rows, sort keys, filter, detail view, resize and a clean quit', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-top-'));
  const tmux = new Tmux(join(dir, 'tmux.sock'));
  const fx = await startServerWithContainers();
  t.after(async () => {
    await tmux.kill();
    await fx.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const p = fx.prefix;
  await tmux.start('top', `--server 127.0.0.1:${fx.port} --token ${TOKEN} --name '${p}*'`);

  // CPU order (the default): the burner first, once its CPU % is measured.
  let screen = await tmux.waitScreen('top', 'three rows, burner first', (s) => {
    const names = listed(s, p);
    return names.length === 3 && names[0] === `${p}zz-burn` && /zz-burn\s.*\s(\d\d|[1-9])\.\d%/.test(s);
  }, 60_000);
  assert.match(screen, /sort: CPU/);
  assert.match(screen, /HOST\s+NAME\s+ID\s+CPU %\s+MEM USAGE \/ LIMIT/);
  assert.match(screen, /top-test-host/);

  // m: memory; the container holding 48 MiB in /dev/shm comes first.
  await tmux.keys('top', 'm');
  screen = await tmux.waitScreen('top', 'memory order', (s) => /sort: memory/.test(s) && listed(s, p)[0] === `${p}mm-mem`);
  assert.match(screen, new RegExp(`${p}mm-mem\\s.*\\s(4[0-9]|5[0-9])\\.\\d+MiB /`));

  // a: name order.
  await tmux.keys('top', 'a');
  screen = await tmux.waitScreen('top', 'name order', (s) => /sort: name/.test(s));
  assert.deepEqual(listed(screen, p), [`${p}aa-idle`, `${p}mm-mem`, `${p}zz-burn`]);

  // / then text filters; Esc clears.
  await tmux.keys('top', '/', 'z', 'z');
  screen = await tmux.waitScreen('top', 'filtered to one row', (s) => listed(s, p).length === 1);
  assert.deepEqual(listed(screen, p), [`${p}zz-burn`]);
  assert.match(screen, /filter: zz/);
  assert.match(screen, /1\/3 containers/);
  await tmux.keys('top', 'Escape');
  screen = await tmux.waitScreen('top', 'filter cleared', (s) => listed(s, p).length === 3 && !/filter: /.test(s));

  // c, Enter: the detail view of the selected (top CPU) container, with its history graphs.
  await tmux.keys('top', 'c');
  await tmux.waitScreen('top', 'cpu order again', (s) => /sort: CPU/.test(s) && listed(s, p)[0] === `${p}zz-burn`);
  await tmux.keys('top', 'Enter');
  screen = await tmux.waitScreen('top', 'detail view', (s) => s.includes(`› ${p}zz-burn`));
  assert.match(screen, /^CPU\s+\d+\.\d% of \d+ cpu\(s\)\s+[▁▂▃▄▅▆▇█]{2,}/m);
  assert.match(screen, /^MEM\s/m);
  assert.match(screen, /^NET\s+rx /m);
  await tmux.keys('top', 'Escape');
  screen = await tmux.waitScreen('top', 'back to the list', (s) => listed(s, p).length === 3 && /sort: CPU/.test(s));

  // Down twice then Enter opens the third row (CPU order: burner, then the other two).
  await tmux.keys('top', 'Down', 'Down', 'Enter');
  screen = await tmux.waitScreen('top', 'detail of the third row', (s) => s.includes('› '));
  const third = listed(screen, p)[0];
  assert.ok(third === `${p}aa-idle` || third === `${p}mm-mem`, `detail of ${third}`);
  await tmux.keys('top', 'BSpace');
  await tmux.waitScreen('top', 'back again', (s) => listed(s, p).length === 3);

  // Resize: the table refits; no line is wider than the window and the header appears once.
  await tmux.tmux('resize-window', '-t', 'top', '-x', '90', '-y', '15');
  screen = await tmux.waitScreen('top', 'narrow layout', (s) => !/BLK WRITE/.test(s) && listed(s, p).length === 3);
  const lines = screen.split('\n');
  assert.ok(lines.every((l) => l.length <= 90), 'a line is wider than the window');
  assert.equal(lines.filter((l) => /HOST\s+NAME/.test(l)).length, 1);
  await tmux.tmux('resize-window', '-t', 'top', '-x', '200', '-y', '40');
  screen = await tmux.waitScreen('top', 'wide layout again', (s) => /BLK WRITE/.test(s) && listed(s, p).length === 3);
  assert.equal(screen.split('\n').filter((l) => /HOST\s+NAME/.test(l)).length, 1);

  // q quits with 0 and gives the terminal back in canonical mode, the UI gone.
  await tmux.keys('top', 'q');
  screen = await tmux.waitScreen('top', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, /TOP-EXIT=0/);
  assert.match(screen, /^icanon$/m);
  assert.doesNotMatch(screen, /HOST\s+NAME/);
});

test('dockwatch top: unreachable server, refused token, and never a blank screen while waiting', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-top-err-'));
  const tmux = new Tmux(join(dir, 'tmux.sock'));
  const latest = createMemoryLatestStore();
  const server = createGrpcServer({
    ingest: async () => { throw new AppError('INTERNAL', 'unused'); },
    bus: createMemoryBus(), latest, log: silent,
    authorize: async (md) => {
      if (String(md.get('authorization')[0] ?? '') !== `Bearer ${TOKEN}`) throw new AppError('UNAUTHENTICATED', 'invalid token');
    },
  });
  const port = await server.listen('127.0.0.1', 0);
  t.after(async () => {
    await tmux.kill();
    await server.close(500).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  // Nothing listens on this port.
  const deadPort = await freePort();
  await tmux.start('dead', `--server 127.0.0.1:${deadPort}`, `DOCKWATCH_TOKEN=${TOKEN}`);
  let screen = await tmux.waitScreen('dead', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, new RegExp(`cannot reach server at 127\\.0\\.0\\.1:${deadPort}: \\S`));
  assert.match(screen, /TOP-EXIT=3/);
  assert.match(screen, /^icanon$/m);

  // A token the server refuses; the token itself is never printed.
  await tmux.start('refused', '', `DOCKWATCH_SERVER=127.0.0.1:${port} DOCKWATCH_TOKEN=not-the-token`);
  screen = await tmux.waitScreen('refused', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, new RegExp(`server at 127\\.0\\.0\\.1:${port} refused the token \\(UNAUTHENTICATED\\): invalid token`));
  assert.match(screen, /TOP-EXIT=4/);
  assert.doesNotMatch(screen, /not-the-token/);

  // No token at all: says so.
  await tmux.start('notoken', `--server 127.0.0.1:${port}`);
  screen = await tmux.waitScreen('notoken', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, /no token given; pass --token or set DOCKWATCH_TOKEN/);
  assert.match(screen, /TOP-EXIT=4/);

  // A good token but no data yet: the screen says it is waiting, it is not blank.
  await tmux.start('empty', `--server 127.0.0.1:${port} --token ${TOKEN}`);
  screen = await tmux.waitScreen('empty', 'a waiting message', (s) => /connecting to 127\.0\.0\.1|waiting for data/.test(s));
  assert.match(screen, /dockwatch top/);
  await tmux.keys('empty', 'q');
  screen = await tmux.waitScreen('empty', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, /TOP-EXIT=0/);
});


test('dockwatch top keeps its rows and reconnects when the server restarts', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-top-re-'));
  const tmux = new Tmux(join(dir, 'tmux.sock'));
  const authorize = async (md: { get(k: string): unknown[] }) => {
    if (String(md.get('authorization')[0] ?? '') !== `Bearer ${TOKEN}`) throw new AppError('UNAUTHENTICATED', 'invalid token');
  };
  const serverWith = (name: string) => {
    const latest = createMemoryLatestStore();
    latest.apply({
      agentId: 'recon-agent', hostname: 'recon-host', sequence: 1, timestampMs: Date.now(), host: null, events: [],
      complete: true, intervalMs: 1000,
      containers: [{
        id: `${name}0123456789`, name, image: 'img', labels: {}, state: 'running', health: 'none', restartCount: 0,
        exitCode: 0, oomKilled: false, startedAtMs: Date.now(), timestampMs: Date.now(), cpuPercent: 1, cpuUsageNs: 1,
        onlineCpus: 1, memUsageBytes: 1, memLimitBytes: 2, memPercent: 50, memRawUsageBytes: 1, netRxBytes: 0,
        netTxBytes: 0, blkReadBytes: 0, blkWriteBytes: 0, pids: 1, source: 'cgroup',
      }],
    });
    return createGrpcServer({
      ingest: async () => { throw new AppError('INTERNAL', 'unused'); }, bus: createMemoryBus(), latest, log: silent, authorize,
    });
  };
  const first = serverWith('recon-web');
  let second: GrpcServer | undefined;
  t.after(async () => {
    await tmux.kill();
    await first.close(200).catch(() => {});
    await second?.close(200).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  const port = await first.listen('127.0.0.1', 0);
  await tmux.start('re', `--server 127.0.0.1:${port} --token ${TOKEN}`);
  await tmux.waitScreen('re', 'the first server\'s row', (s) => s.includes('recon-web'));

  await first.close(200);
  let screen = await tmux.waitScreen('re', 'connection lost', (s) => /connection lost/.test(s));
  assert.match(screen, /recon-web/, 'the last rows stay on screen');

  second = serverWith('recon-db');
  await second.listen('127.0.0.1', port);
  screen = await tmux.waitScreen('re', 'the second server\'s row', (s) => s.includes('recon-db') && !/connection lost/.test(s), 40_000);
  await tmux.keys('re', 'q');
  screen = await tmux.waitScreen('re', 'exit', (s) => /TOP-EXIT=\d+/.test(s));
  assert.match(screen, /TOP-EXIT=0/);
});
