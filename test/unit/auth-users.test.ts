import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, parseHash, safeEqual, verifyPassword } from '../../src/infrastructure/auth/passwords.js';
import { addUser, readUsers, removeUser } from '../../src/infrastructure/auth/users-file.js';
import { AppError } from '../../src/application/errors.js';

const tmp = () => mkdtemp(join(tmpdir(), 'dockwatch-auth-'));
const FAST = { N: 1024, r: 8, p: 1, keylen: 32 };

test('scrypt hash: parameters stored, per-user salt, verifies only the right password', async () => {
  const h1 = await hashPassword('correct horse', FAST);
  const h2 = await hashPassword('correct horse', FAST);
  assert.match(h1, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(h1, h2, 'salts differ');
  assert.equal(await verifyPassword('correct horse', h1), true);
  assert.equal(await verifyPassword('correct horsE', h1), false);
  assert.equal(await verifyPassword('', h1), false);
  assert.ok(!h1.includes('correct'));
});

test('default parameters are the strong ones', async () => {
  const parsed = parseHash(await hashPassword('x'.repeat(10)));
  assert.deepEqual(parsed?.params, { N: 32768, r: 8, p: 1, keylen: 32 });
});

test('malformed or absurd hashes never verify', async () => {
  for (const bad of ['', 'plain', 'scrypt$1$8$1$aa$bb', 'scrypt$4194304$8$1$AAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAA', 'bcrypt$x']) {
    assert.equal(await verifyPassword('x', bad), false, bad);
  }
});

test('safeEqual: equal only for identical strings, any lengths', () => {
  const table: [string, string, boolean][] = [
    ['abc', 'abc', true], ['abc', 'abd', false], ['abc', 'abcd', false], ['', '', true], ['', 'a', false],
    ['abc\u0000', 'abc', false],
  ];
  for (const [a, b, want] of table) assert.equal(safeEqual(a, b), want, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

test('users file: add writes a 0600 file with a hash and no plain password', async () => {
  const dir = await tmp();
  const file = join(dir, 'sub', 'users.json');
  await addUser(file, 'alice', 'viewer', 's3cret-password');
  await addUser(file, 'bob', 'admin', 'other-password');
  const text = await readFile(file, 'utf8');
  assert.ok(!text.includes('s3cret-password') && !text.includes('other-password'));
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const users = await readUsers(file);
  assert.deepEqual(users.map((u) => [u.username, u.role]), [['alice', 'viewer'], ['bob', 'admin']]);
  assert.equal(await verifyPassword('s3cret-password', users[0]!.password_hash), true);
});

test('users file: duplicate is a CONFLICT unless replaced; bad input is INVALID_ARGUMENT', async () => {
  const file = join(await tmp(), 'users.json');
  await addUser(file, 'alice', 'viewer', 'password-1');
  await assert.rejects(addUser(file, 'alice', 'admin', 'password-2'), (e: unknown) => e instanceof AppError && e.code === 'CONFLICT');
  await addUser(file, 'alice', 'admin', 'password-2', { replace: true });
  const [u] = await readUsers(file);
  assert.equal(u!.role, 'admin');
  assert.equal(await verifyPassword('password-2', u!.password_hash), true);
  for (const [name, role, pw] of [['bad name', 'viewer', 'password-1'], ['x', 'root', 'password-1'], ['x', 'viewer', 'short']] as const) {
    await assert.rejects(addUser(file, name, role as never, pw), (e: unknown) => e instanceof AppError && e.code === 'INVALID_ARGUMENT');
  }
  assert.equal(await removeUser(file, 'alice'), true);
  assert.equal(await removeUser(file, 'alice'), false);
  assert.deepEqual(await readUsers(file), []);
});

test('users file: missing means empty, broken JSON is an error naming USERS_FILE', async () => {
  const dir = await tmp();
  assert.deepEqual(await readUsers(join(dir, 'nope.json')), []);
  await writeFile(join(dir, 'bad.json'), '{not json');
  await assert.rejects(readUsers(join(dir, 'bad.json')), (e: unknown) => e instanceof AppError && e.field === 'USERS_FILE');
});
