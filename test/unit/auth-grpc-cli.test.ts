import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import jwt from 'jsonwebtoken';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { grpcAuthorizer } from '../../src/infrastructure/auth/grpc-authorizer.js';
import { runUserCommand } from '../../src/infrastructure/auth/cli-user.js';
import { readUsers } from '../../src/infrastructure/auth/users-file.js';
import { verifyPassword } from '../../src/infrastructure/auth/passwords.js';
import { AppError } from '../../src/application/errors.js';

const SECRET = 's'.repeat(40);
const metadata = (auth?: string | Buffer) => ({ get: (k: string) => (k === 'authorization' && auth !== undefined ? [auth] : []) });

test('gRPC authorizer: StreamMetrics needs an agent, SubscribeToMetrics a viewer or admin', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-auth-'));
  const { auth } = await createAuth({
    jwtSecret: SECRET, jwtDurationMs: 60_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile: join(dataDir, 'users.json'), dataDir, production: false, agentToken: 'agent-token-xyz',
  });
  const authorize = grpcAuthorizer(auth);
  const now = Math.floor(Date.now() / 1000);
  const expired = jwt.sign({ role: 'viewer', iat: now - 100, exp: now - 1 }, SECRET, { algorithm: 'HS256', subject: 'v', issuer: 'dockwatch' });
  const forged = jwt.sign({ role: 'admin' }, 'x'.repeat(40), { algorithm: 'HS256', subject: 'm', issuer: 'dockwatch' });
  const viewer = auth.issueToken('v', 'viewer').token;
  const admin = auth.issueToken('a', 'admin').token;
  const agentJwt = auth.issueToken('agent-1', 'agent').token;
  const S = '/dockwatch.v1.MetricsService/StreamMetrics';
  const Sub = '/dockwatch.v1.MetricsService/SubscribeToMetrics';
  const table: [string | Buffer | undefined, string, string | null][] = [
    ['Bearer agent-token-xyz', S, null],
    [Buffer.from('Bearer agent-token-xyz'), S, null],
    [`Bearer ${agentJwt}`, S, null],
    [`Bearer ${viewer}`, Sub, null],
    [`Bearer ${admin}`, 'SubscribeToMetrics', null],
    [undefined, S, 'UNAUTHENTICATED'],
    [undefined, Sub, 'UNAUTHENTICATED'],
    ['Bearer wrong', S, 'UNAUTHENTICATED'],
    [`Bearer ${forged}`, Sub, 'UNAUTHENTICATED'],
    [`Bearer ${expired}`, Sub, 'UNAUTHENTICATED'],
    ['agent-token-xyz', S, 'UNAUTHENTICATED'],
    [`Bearer ${viewer}`, S, 'PERMISSION_DENIED'],
    [`Bearer ${admin}`, S, 'PERMISSION_DENIED'],
    ['Bearer agent-token-xyz', Sub, 'PERMISSION_DENIED'],
    [`Bearer ${admin}`, '/dockwatch.v1.MetricsService/Other', 'PERMISSION_DENIED'],
  ];
  for (const [header, rpc, want] of table) {
    const got = await authorize(metadata(header), rpc).then(() => null, (e: unknown) => (e instanceof AppError ? e.code : String(e)));
    assert.equal(got, want, `${rpc} with ${String(header).slice(0, 30)}`);
  }
});

function io(stdinText = '') {
  const stdin = new PassThrough();
  stdin.end(stdinText);
  let out = '';
  let err = '';
  return { io: { stdin, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, out: () => out, err: () => err };
}

test('dockwatch user add --password-stdin writes a hashed entry to USERS_FILE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-auth-'));
  const env = { USERS_FILE: join(dir, 'u.json') };
  const a = io('viewer-password\n');
  assert.equal(await runUserCommand(['user', 'add', 'vera', '--role', 'viewer', '--password-stdin'], env, a.io), 0);
  assert.ok(!a.out().includes('viewer-password'));
  const [u] = await readUsers(env.USERS_FILE);
  assert.equal(u!.role, 'viewer');
  assert.equal(await verifyPassword('viewer-password', u!.password_hash), true);
  assert.ok(!(await readFile(env.USERS_FILE, 'utf8')).includes('viewer-password'));
  // The same name again: a conflict, exit 1.
  assert.equal(await runUserCommand(['add', 'vera', '--role=admin', '--password-stdin'], env, io('another-password').io), 1);
});

test('dockwatch user add without stdin generates and prints a password once; DATA_DIR default path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dockwatch-auth-'));
  const a = io();
  assert.equal(await runUserCommand(['add', 'root2', '--role', 'admin'], { DATA_DIR: dir }, a.io), 0);
  const pw = /password: (\S+)/.exec(a.out())?.[1];
  assert.ok(pw);
  const [u] = await readUsers(join(dir, 'users.json'));
  assert.equal(await verifyPassword(pw, u!.password_hash), true);
  const l = io();
  assert.equal(await runUserCommand(['list'], { DATA_DIR: dir }, l.io), 0);
  assert.match(l.out(), /^root2\tadmin\t/);
});

test('dockwatch user: bad usage exits 2', async () => {
  const env = { USERS_FILE: join(tmpdir(), 'never-written.json') };
  for (const argv of [[], ['add'], ['add', 'x'], ['add', 'x', '--role', 'root'], ['add', 'x', '--role', 'viewer', '--bogus'], ['frobnicate']]) {
    const c = io();
    assert.equal(await runUserCommand(argv, env, c.io), 2, argv.join(' '));
    assert.match(c.err(), /usage|unknown option/);
  }
  const short = io('short\n');
  assert.equal(await runUserCommand(['add', 'x', '--role', 'viewer', '--password-stdin'], env, short.io), 2);
  assert.match(short.err(), /at least 8/);
});
