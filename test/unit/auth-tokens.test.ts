import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createTokenService } from '../../src/infrastructure/auth/token-service.js';
import { roleSatisfies, type RequiredRole, type Role } from '../../src/application/auth-ports.js';
import { AppError } from '../../src/application/errors.js';

const SECRET = 'a'.repeat(40);
const hs = createTokenService({ algorithm: 'HS256', secret: SECRET }, 60_000);

function rejects(fn: () => unknown, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === 'UNAUTHENTICATED' && reason.test(e.message));
}

test('a signed token verifies to its subject and role', () => {
  const { token, expiresAtMs } = hs.sign('alice', 'viewer');
  const p = hs.verify(token);
  assert.equal(p.sub, 'alice');
  assert.equal(p.role, 'viewer');
  assert.equal(p.expiresAtMs, expiresAtMs);
  assert.ok(expiresAtMs > Date.now() + 50_000 && expiresAtMs <= Date.now() + 61_000);
});

test('an expired token is refused with reason "token expired"', () => {
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign({ role: 'admin', iat: now - 100, exp: now - 10 }, SECRET, { algorithm: 'HS256', subject: 'a', issuer: 'dockwatch' });
  rejects(() => hs.verify(token), /^token expired$/);
});

test('a token signed with another key is refused', () => {
  const other = createTokenService({ algorithm: 'HS256', secret: 'b'.repeat(40) }, 60_000);
  rejects(() => hs.verify(other.sign('mallory', 'admin').token), /invalid signature/);
});

test('alg none is refused', () => {
  const token = jwt.sign({ role: 'admin', sub: 'mallory', iss: 'dockwatch' }, '', { algorithm: 'none' });
  rejects(() => hs.verify(token), /invalid token/);
  // Hand-built too, in case the library ever refuses to make one.
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const forged = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'm', role: 'admin', iss: 'dockwatch', exp: 9e9 })}.`;
  rejects(() => hs.verify(forged), /invalid token/);
});

test('an unknown role or a missing subject is refused', () => {
  const t1 = jwt.sign({ role: 'root' }, SECRET, { algorithm: 'HS256', subject: 'a', issuer: 'dockwatch' });
  rejects(() => hs.verify(t1), /role/);
  const t2 = jwt.sign({ role: 'admin' }, SECRET, { algorithm: 'HS256', issuer: 'dockwatch' });
  rejects(() => hs.verify(t2), /subject/);
});

test('garbage is refused', () => {
  rejects(() => hs.verify('not.a.jwt'), /invalid token/);
  rejects(() => hs.verify(''), /invalid token/);
});

test('RS256: verifies with the public key; an HS256 token made with the public key as secret is refused', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const rs = createTokenService({ algorithm: 'RS256', privateKey, publicKey }, 60_000);
  assert.equal(rs.verify(rs.sign('bob', 'admin').token).role, 'admin');
  // Key confusion: sign HS256 with the public key text as the HMAC secret.
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ sub: 'm', role: 'admin', iss: 'dockwatch', exp: 9e9 })).toString('base64url');
  const sig = createHmac('sha256', publicKey).update(`${header}.${body}`).digest('base64url');
  rejects(() => rs.verify(`${header}.${body}.${sig}`), /invalid token/);
  // A verifier with only the public key cannot sign.
  const verifyOnly = createTokenService({ algorithm: 'RS256', publicKey }, 60_000);
  assert.throws(() => verifyOnly.sign('x', 'viewer'), /private key/);
});

test('role table', () => {
  const cases: [Role, RequiredRole, boolean][] = [
    ['admin', 'admin', true], ['admin', 'viewer', true], ['admin', 'agent', false], ['admin', 'public', true],
    ['viewer', 'admin', false], ['viewer', 'viewer', true], ['viewer', 'agent', false],
    ['agent', 'viewer', false], ['agent', 'admin', false], ['agent', 'agent', true],
  ];
  for (const [actual, required, want] of cases) assert.equal(roleSatisfies(actual, required), want, `${actual} vs ${required}`);
});
