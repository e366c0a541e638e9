// docker-compose.yml is accepted by docker-compose (Debian's 1.29) and wires what the stack needs;
// the systemd units pass `systemd-analyze verify` and carry the promised hardening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

type Any = any;
const root = path.resolve(import.meta.dirname, '../..');

function composeConfig(envFile: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('docker-compose', ['--project-directory', root, '--env-file', envFile, '-f', path.join(root, 'docker-compose.yml'), 'config'],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('docker-compose config accepts the file with .env.example and resolves the wiring', () => {
  const r = composeConfig(path.join(root, '.env.example'));
  assert.equal(r.status, 0, r.stderr);
  const cfg: Any = parseYaml(r.stdout);
  assert.deepEqual(Object.keys(cfg.services).sort(), ['agent', 'influxdb', 'redis', 'server']);
  assert.equal(cfg.services.server.build.dockerfile, 'Dockerfile.server');
  assert.equal(cfg.services.agent.build.dockerfile, 'Dockerfile.agent');
  assert.match(cfg.services.influxdb.image, /^influxdb:2(\.|$)/);
  assert.match(cfg.services.redis.image, /^redis:7(\.|$)/);
  for (const v of ['dockwatch-data', 'influxdb-data', 'redis-data']) assert.ok(v in cfg.volumes, `named volume ${v}`);
  const server = cfg.services.server.environment;
  assert.equal(server.INFLUXDB_URL, 'http://influxdb:8086');
  assert.equal(server.REDIS_URL, 'redis://redis:6379');
  assert.equal(server.INFLUXDB_TOKEN, cfg.services.influxdb.environment.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN, 'one token for both');
  assert.equal(cfg.services.agent.environment.AGENT_TOKEN, server.AGENT_TOKEN);
  assert.equal(cfg.services.agent.environment.SERVER_ADDR, 'server:50051');
  const mounts = cfg.services.agent.volumes.map((v: Any) => (typeof v === 'string' ? v : `${v.source}:${v.target}:${v.read_only ? 'ro' : 'rw'}`));
  for (const m of ['/var/run/docker.sock:/var/run/docker.sock', '/proc:/host/proc', '/sys:/host/sys']) {
    assert.ok(mounts.some((x: string) => x.startsWith(m) && x.endsWith(':ro')), `${m} read-only`);
  }
  assert.equal(cfg.services.server.read_only, true);
  assert.equal(cfg.services.agent.read_only, true);
  // Published ports stay on loopback unless the user opts out.
  assert.ok(cfg.services.server.ports.every((p: Any) => (typeof p === 'string' ? p.startsWith('127.0.0.1:') : p.host_ip === '127.0.0.1')));
});

test('secrets come from .env: without them compose refuses, and .env.example holds placeholders only', () => {
  const empty = path.join(mkdtempSync(path.join(os.tmpdir(), 'dockwatch-compose-')), 'empty.env');
  writeFileSync(empty, '');
  const r = composeConfig(empty);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /set (JWT_SECRET|ADMIN_PASSWORD|AGENT_TOKEN|INFLUXDB_TOKEN|INFLUXDB_ADMIN_PASSWORD) in \.env/);
  const example = readFileSync(path.join(root, '.env.example'), 'utf8');
  for (const k of ['JWT_SECRET', 'ADMIN_PASSWORD', 'AGENT_TOKEN', 'INFLUXDB_TOKEN', 'INFLUXDB_ADMIN_PASSWORD']) {
    assert.match(example, new RegExp(`^${k}=CHANGE_ME$`, 'm'));
  }
  const compose = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
  assert.doesNotMatch(compose, /(SECRET|TOKEN|PASSWORD): (?!\$\{)\S/, 'no secret value written into the compose file');
  assert.match(readFileSync(path.join(root, '.gitignore'), 'utf8'), /^\.env$/m);
});

const unit = (name: string): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const line of readFileSync(path.join(root, 'deploy/systemd', name), 'utf8').split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv) m.set(kv[1]!, [...(m.get(kv[1]!) ?? []), kv[2]!]);
  }
  return m;
};

test('systemd units verify and are hardened', () => {
  execFileSync('systemd-analyze', ['verify', ...['dockwatch-server.service', 'dockwatch-agent.service'].map((u) => path.join(root, 'deploy/systemd', u))], { stdio: 'pipe' });
  for (const name of ['dockwatch-server.service', 'dockwatch-agent.service']) {
    const u = unit(name);
    assert.ok(u.get('User')?.[0] && u.get('User')![0] !== 'root', `${name}: dedicated user`);
    assert.deepEqual(u.get('Restart'), ['on-failure']);
    assert.deepEqual(u.get('NoNewPrivileges'), ['true']);
    assert.deepEqual(u.get('ProtectSystem'), ['strict']);
    assert.deepEqual(u.get('CapabilityBoundingSet'), ['']);
    assert.equal(u.get('ReadWritePaths')?.length, 1, `${name}: one writable path`);
  }
  const server = unit('dockwatch-server.service');
  const dataDir = server.get('Environment')!.find((e) => e.startsWith('DATA_DIR='))!.slice('DATA_DIR='.length);
  assert.deepEqual(server.get('ReadWritePaths'), [dataDir], 'the server may write only DATA_DIR');
  assert.match(server.get('ExecStart')![0]!, /dist\/cli\.js server$/);
  assert.match(unit('dockwatch-agent.service').get('ExecStart')![0]!, /dist\/cli\.js agent$/);
  // systemd's own exposure score: "OK" or better.
  const sec = spawnSync('systemd-analyze', ['security', '--offline=true', path.join(root, 'deploy/systemd/dockwatch-server.service')], { encoding: 'utf8' });
  const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout)?.[1]);
  assert.ok(score <= 3, `server exposure ${score}`);
});
