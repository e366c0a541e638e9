// Issue 13, item 4: each `dockwatch` subcommand loads only its own composition root. The built CLI
// runs with a preload (test/helpers/record-modules.mjs) that writes down every module it loads,
// ES and CommonJS alike; `dockwatch agent` must not load one server-only package, and must load
// the agent's own (@grpc/grpc-js), so a broken recorder cannot pass the test.
// The agent points at a server port nothing listens on and a Docker socket that does not exist:
// it starts, retries both, and loads everything its loop ever loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, freePort, runCli, tempDir } from '../helpers/cli-process.js';

const RECORDER = join(import.meta.dirname, '..', 'helpers', 'record-modules.mjs');
const DIST = join(CLI, '..');

/** Packages only the server (or `top`) uses; none may be loaded by `dockwatch agent`. */
const SERVER_ONLY = [
  'fastify', '@fastify/helmet', '@fastify/rate-limit', '@fastify/static', '@fastify/websocket', 'ioredis', 'node-sqlite3-wasm',
  'nodemailer', '@influxdata/influxdb-client', 'opossum', 'prom-client', 'jsonwebtoken', 'ink', 'react', 'yaml', 'zod', 'picomatch', 'ws',
];

interface Loaded { packages: Set<string>; distFiles: Set<string> }

function parseRecord(file: string): Loaded {
  const packages = new Set<string>();
  const distFiles = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const path = decodeURIComponent(line.replace(/^\S+ (file:\/\/)?/, ''));
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (m) packages.add(m[1]!);
    else if (path.startsWith(`${DIST}/`)) distFiles.add(path.slice(DIST.length + 1));
  }
  return { packages, distFiles };
}

/** Runs `dockwatch <mode>` under the recorder for about two seconds after start-up, then stops it. */
async function loadedBy(mode: 'agent' | 'server' | 'all'): Promise<Loaded> {
  const dir = tempDir(`dw-modules-${mode}-`);
  const record = join(dir, 'modules.txt');
  const [deadPort, port, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const cli = runCli([mode], {
    NODE_OPTIONS: `--import=${RECORDER}`, RECORD_MODULES_FILE: record,
    SERVER_ADDR: `127.0.0.1:${deadPort}`, DOCKER_HOST: `unix://${dir}/no-such-docker.sock`, COLLECT_INTERVAL: '1s',
    DATA_DIR: join(dir, 'data'), PORT: String(port), GRPC_PORT: String(grpcPort), ADMIN_PASSWORD: 'modules-test-password',
    JWT_SECRET: 'modules-test-secret-that-is-long-enough-0123',
  });
  try {
    await cli.waitFor(mode === 'server' ? /is running/ : /agent started/, 30_000);
    // Let the loop run a few rounds: the collection, the failing stream and its retries.
    await new Promise((r) => setTimeout(r, 2500));
  } finally {
    await cli.stop('SIGTERM');
  }
  return parseRecord(record);
}

test('`dockwatch agent` loads the agent and none of the server\'s packages', async () => {
  const { packages, distFiles } = await loadedBy('agent');
  assert.ok(packages.has('@grpc/grpc-js'), `the recorder saw no @grpc/grpc-js; it saw: ${[...packages].join(', ')}`);
  assert.ok(distFiles.has('agent/main.js'), 'the agent composition root was not loaded');
  const forbidden = SERVER_ONLY.filter((p) => packages.has(p));
  assert.deepEqual(forbidden, [], `dockwatch agent loaded server packages: ${forbidden.join(', ')}`);
  assert.ok(!distFiles.has('server/main.js'), 'dockwatch agent loaded the server composition root');
  const serverSide = [...distFiles].filter((f) => /^(server|infrastructure\/(auth|http|influx|memory|notifiers|prometheus|redis|resilience|sqlite|tui))\//.test(f));
  assert.deepEqual(serverSide, [], `dockwatch agent loaded server modules: ${serverSide.join(', ')}`);
});

test('`dockwatch server` does not load the agent composition root; `all` loads both', async () => {
  const server = await loadedBy('server');
  assert.ok(server.distFiles.has('server/main.js'));
  assert.ok(server.packages.has('fastify'));
  assert.ok(!server.distFiles.has('agent/main.js'), 'dockwatch server loaded the agent composition root');
  const all = await loadedBy('all');
  assert.ok(all.distFiles.has('server/main.js') && all.distFiles.has('agent/main.js'), 'dockwatch all must load both roots');
});
