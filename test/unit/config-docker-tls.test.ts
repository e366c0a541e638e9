// DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH as the docker CLI reads them, and the
// start-up checks of the files (each problem names DOCKER_CERT_PATH and the file, never its contents).
// Certificates are made by openssl into a temp dir (the same helper the TLS dockerd test uses).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/env.js';
import { loadAgentConfig } from '../../src/config/config.js';
import { dockerOptions } from '../../src/infrastructure/docker/engine-client.js';
import { makeTlsCerts, type TlsCerts } from '../helpers/docker-tls.js';

let certs: TlsCerts;
let root: string;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'dw-tls-config-'));
  certs = await makeTlsCerts(join(root, 'certs'));
});

const TCP = 'tcp://10.1.2.3:2376';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadAgentConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

/** A DOCKER_CERT_PATH holding the client's files minus `drop`, plus `put` overrides. */
function certDir(drop: string[] = [], put: Record<string, string> = {}): string {
  const d = mkdtempSync(join(root, 'dir-'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) if (!drop.includes(f)) copyFileSync(join(certs.clientDir, f), join(d, f));
  for (const [f, text] of Object.entries(put)) writeFileSync(join(d, f), text);
  return d;
}

test('DOCKER_TLS_VERIFY with a complete DOCKER_CERT_PATH: verified TLS, a remote engine named after DOCKER_HOST', () => {
  const c = loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.clientDir });
  assert.deepEqual(c.dockerTls, {
    verify: true, certPath: certs.clientDir,
    caFile: join(certs.clientDir, 'ca.pem'), certFile: join(certs.clientDir, 'cert.pem'), keyFile: join(certs.clientDir, 'key.pem'),
  });
  assert.equal(c.dockerRemote, true);
  assert.equal(c.hostname, '10.1.2.3');
  assert.equal(loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.clientDir, HOST_NAME: 'edge-7' }).hostname, 'edge-7');
});

test('like the docker CLI, any non-empty DOCKER_TLS_VERIFY turns verification on, even "0"', () => {
  assert.equal(loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS_VERIFY: '0', DOCKER_CERT_PATH: certs.clientDir }).dockerTls?.verify, true);
  assert.equal(loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '/nonexistent' }).dockerTls, undefined);
});

test('plain tcp:// without DOCKER_TLS_VERIFY or DOCKER_TLS is plain HTTP, and still a remote engine (127.0.0.1 too)', () => {
  const c = loadAgentConfig({ DOCKER_HOST: 'tcp://127.0.0.1:2375' });
  assert.equal(c.dockerTls, undefined);
  assert.equal(c.dockerRemote, true);
  assert.equal(c.hostname, '127.0.0.1');
  assert.deepEqual(dockerOptions(c.dockerHost, undefined), { host: '127.0.0.1', port: 2375 });
});

test('a unix socket is local and ignores the TLS settings, as the CLI\'s transport does (no file is checked)', () => {
  const c = loadAgentConfig({ DOCKER_HOST: 'unix:///var/run/docker.sock', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent' });
  assert.equal(c.dockerTls, undefined);
  assert.equal(c.dockerRemote, false);
  assert.equal(loadAgentConfig({}).dockerRemote, false);
});

test('DOCKER_TLS_VERIFY without DOCKER_HOST means tcp://localhost:2376, with ~/.docker or DOCKER_CONFIG as the default cert path', () => {
  const home = mkdtempSync(join(root, 'home-'));
  mkdirSync(join(home, '.docker'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) copyFileSync(join(certs.clientDir, f), join(home, '.docker', f));
  const c = loadAgentConfig({ DOCKER_TLS_VERIFY: '1', HOME: home });
  assert.equal(c.dockerHost, 'tcp://localhost:2376');
  assert.equal(c.dockerTls?.caFile, join(home, '.docker', 'ca.pem'));
  assert.equal(loadAgentConfig({ DOCKER_TLS_VERIFY: '1', HOME: '/nonexistent', DOCKER_CONFIG: certs.clientDir }).dockerTls?.certPath, certs.clientDir);
  const [p] = problemsOf({ DOCKER_TLS_VERIFY: '1', HOME: '/nonexistent' });
  assert.match(p!, /^DOCKER_CERT_PATH="\/nonexistent\/\.docker" \(default\): ca\.pem not found \(\/nonexistent\/\.docker\/ca\.pem\)/);
});

test('DOCKER_TLS without DOCKER_TLS_VERIFY: TLS without checking the daemon, the client pair only if present', () => {
  const c = loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS: '1', DOCKER_CERT_PATH: certs.clientDir });
  assert.equal(c.dockerTls?.verify, false);
  assert.equal(c.dockerTls?.caFile, undefined, 'the CA is not used without verification');
  assert.equal(c.dockerTls?.certFile, join(certs.clientDir, 'cert.pem'));
  const empty = mkdtempSync(join(root, 'empty-'));
  assert.deepEqual(loadAgentConfig({ DOCKER_HOST: TCP, DOCKER_TLS: '1', DOCKER_CERT_PATH: empty }).dockerTls,
    { verify: false, certPath: empty, caFile: undefined, certFile: undefined, keyFile: undefined });
  const half = certDir(['key.pem']);
  assert.match(problemsOf({ DOCKER_HOST: TCP, DOCKER_TLS: '1', DOCKER_CERT_PATH: half })[0]!, /^DOCKER_CERT_PATH=.*: key\.pem not found/);
});

const bad: Array<[string, () => string, RegExp]> = [
  ['ca.pem missing', () => certDir(['ca.pem']), /: ca\.pem not found \(.*\/ca\.pem\); required with DOCKER_TLS_VERIFY$/],
  ['cert.pem missing', () => certDir(['cert.pem']), /: cert\.pem not found \(.*\/cert\.pem\); required with DOCKER_TLS_VERIFY$/],
  ['key.pem missing', () => certDir(['key.pem']), /: key\.pem not found \(.*\/key\.pem\); required with DOCKER_TLS_VERIFY$/],
  ['cert.pem unreadable (a directory)', () => { const d = certDir(['cert.pem']); mkdirSync(join(d, 'cert.pem')); return d; }, /: cert\.pem not readable \(EISDIR\)/],
  ['ca.pem not a certificate', () => certDir([], { 'ca.pem': 'hello\n' }), /: ca\.pem is not a PEM certificate/],
  ['key.pem not a key', () => certDir([], { 'key.pem': 'SECRET-BYTES-hunter2\n' }), /: key\.pem is not a PEM private key/],
  ['key.pem of another certificate', () => { const d = certDir(['key.pem']); copyFileSync(certs.server.key, join(d, 'key.pem')); return d; }, /: key\.pem does not belong to cert\.pem/],
];
for (const [name, make, expected] of bad) {
  test(`DOCKER_TLS_VERIFY with ${name}: a problem naming DOCKER_CERT_PATH and the file`, () => {
    const dir = make();
    const problems = problemsOf({ DOCKER_HOST: TCP, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    assert.equal(problems.length, 1, problems.join('; '));
    assert.ok(problems[0]!.startsWith(`DOCKER_CERT_PATH=${JSON.stringify(dir)}: `), problems[0]);
    assert.match(problems[0]!, expected);
    assert.doesNotMatch(problems[0]!, /hunter2|BEGIN/, 'never the contents');
  });
}

test('dockerOptions: tcp:// without a port is 2375, or 2376 with TLS; IPv6 literals', () => {
  const tls = { verify: true };
  assert.deepEqual(dockerOptions('tcp://docker', tls), { host: 'docker', port: 2376, tls });
  assert.deepEqual(dockerOptions('tcp://docker'), { host: 'docker', port: 2375 });
  assert.deepEqual(dockerOptions('tcp://[::1]:2376', tls), { host: '::1', port: 2376, tls });
});
