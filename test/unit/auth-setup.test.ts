import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuth, type AuthOptions } from '../../src/infrastructure/auth/auth-service.js';
import { parseHash, verifyPassword } from '../../src/infrastructure/auth/passwords.js';
import { addUser, readUsers } from '../../src/infrastructure/auth/users-file.js';
import { AppError } from '../../src/application/errors.js';

async function options(over: Partial<AuthOptions> = {}): Promise<AuthOptions> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-auth-'));
  return { jwtDurationMs: 3_600_000, adminUser: 'admin', usersFile: join(dataDir, 'users.json'), dataDir, production: false, ...over };
}
const isCode = (code: string) => (e: unknown) => e instanceof AppError && e.code === code;

test('first run: generates a 0600 JWT secret under DATA_DIR and reuses it on the next start', async () => {
  const opts = await options();
  const first = await createAuth(opts);
  const file = join(opts.dataDir, 'jwt-secret');
  assert.equal(first.generatedSecretFile, file);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const secret = (await readFile(file, 'utf8')).trim();
  assert.ok(secret.length >= 32);
  const { token } = first.auth.issueToken('admin', 'admin');
  const second = await createAuth(opts);
  assert.equal(second.generatedSecretFile, null);
  assert.equal((await readFile(file, 'utf8')).trim(), secret);
  // A token from the first start still verifies: the secret was reused.
  assert.equal(second.auth.authenticate(token).sub, 'admin');
});

test('first run: generates an admin password once, stores only its hash, and it logs in', async () => {
  const opts = await options();
  const first = await createAuth(opts);
  const pw = first.generatedAdminPassword;
  assert.ok(pw && pw.length >= 16);
  const text = await readFile(opts.usersFile, 'utf8');
  assert.ok(!text.includes(pw));
  const [admin] = await readUsers(opts.usersFile);
  assert.equal(admin!.role, 'admin');
  assert.equal(await verifyPassword(pw, admin!.password_hash), true);
  const second = await createAuth(opts);
  assert.equal(second.generatedAdminPassword, null, 'printed once only');
  const r = await second.auth.login('admin', pw);
  assert.equal(r.role, 'admin');
  assert.equal(second.auth.authorize(r.token, 'admin').sub, 'admin');
});

test('production without JWT_SECRET or RS256 keys is a start-up error naming JWT_SECRET', async () => {
  const opts = await options({ production: true });
  await assert.rejects(createAuth(opts), (e: unknown) => e instanceof AppError && e.code === 'INVALID_ARGUMENT' && e.field === 'JWT_SECRET');
  await assert.rejects(readFile(join(opts.dataDir, 'jwt-secret')), /ENOENT/);
  const ok = await createAuth({ ...opts, jwtSecret: 'p'.repeat(40), adminPassword: 'admin-password' });
  assert.equal(ok.generatedSecretFile, null);
  await assert.rejects(createAuth({ ...opts, jwtSecret: 'short' }), (e: unknown) => e instanceof AppError && e.field === 'JWT_SECRET');
});

test('ADMIN_PASSWORD seeds the admin without writing the users file', async () => {
  const opts = await options({ jwtSecret: 's'.repeat(40), adminUser: 'root', adminPassword: 'env-password' });
  const { auth, generatedAdminPassword } = await createAuth(opts);
  assert.equal(generatedAdminPassword, null);
  assert.equal((await auth.login('root', 'env-password')).role, 'admin');
  await assert.rejects(auth.login('root', 'wrong-password'), isCode('UNAUTHENTICATED'));
  await assert.rejects(readFile(opts.usersFile), /ENOENT/);
});

test('wrong password and unknown user fail alike, and both pay for one scrypt check of the same strength', async () => {
  const opts = await options({ jwtSecret: 's'.repeat(40), adminPassword: 'env-password' });
  await addUser(opts.usersFile, 'alice', 'viewer', 'alice-password');
  const seen: string[] = [];
  const { auth } = await createAuth(opts, {
    verify: async (pw, hash) => { seen.push(hash); return verifyPassword(pw, hash); },
  });
  const errs: AppError[] = [];
  for (const [u, p] of [['alice', 'nope-nope'], ['nobody', 'nope-nope']] as const) {
    await auth.login(u, p).then(() => assert.fail('logged in'), (e: AppError) => errs.push(e));
  }
  assert.equal(seen.length, 2, 'a scrypt check ran for the unknown user too');
  assert.deepEqual(parseHash(seen[1]!)?.params, parseHash(seen[0]!)?.params);
  assert.deepEqual(errs.map((e) => [e.code, e.message]), [
    ['UNAUTHENTICATED', 'invalid username or password'], ['UNAUTHENTICATED', 'invalid username or password'],
  ]);
  assert.equal((await auth.login('alice', 'alice-password')).role, 'viewer');
});

test('authorize: roles, AGENT_TOKEN in constant time, agents cannot log in through the dashboard', async () => {
  const opts = await options({ jwtSecret: 's'.repeat(40), adminPassword: 'env-password', agentToken: 'agent-shared-token-123' });
  await addUser(opts.usersFile, 'bot', 'agent', 'bot-password');
  const { auth } = await createAuth(opts);
  const viewer = auth.issueToken('v', 'viewer').token;
  assert.equal(auth.authorize(viewer, 'viewer').role, 'viewer');
  assert.throws(() => auth.authorize(viewer, 'admin'), isCode('PERMISSION_DENIED'));
  assert.throws(() => auth.authorize(viewer, 'agent'), isCode('PERMISSION_DENIED'));
  assert.equal(auth.authorize('agent-shared-token-123', 'agent').via, 'agent-token');
  assert.throws(() => auth.authorize('agent-shared-token-123', 'viewer'), isCode('PERMISSION_DENIED'));
  assert.throws(() => auth.authorize('agent-shared-token-124', 'agent'), isCode('UNAUTHENTICATED'));
  assert.throws(() => auth.authorize(undefined, 'viewer'), isCode('UNAUTHENTICATED'));
  assert.equal(auth.authorize(auth.issueToken('a1', 'agent').token, 'agent').via, 'jwt');
  await assert.rejects(auth.login('bot', 'bot-password'), isCode('UNAUTHENTICATED'));
});

test('a user added while the server runs can log in without a restart', async () => {
  const opts = await options({ jwtSecret: 's'.repeat(40), adminPassword: 'env-password' });
  const { auth } = await createAuth(opts);
  await assert.rejects(auth.login('carol', 'carol-password'), isCode('UNAUTHENTICATED'));
  await addUser(opts.usersFile, 'carol', 'viewer', 'carol-password');
  assert.equal((await auth.login('carol', 'carol-password')).username, 'carol');
});
