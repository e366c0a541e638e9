// The authentication service every edge uses (HTTP, WebSocket, gRPC): logins against the
// users file and the seeded admin, JWTs, the static agent token, role checks.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../../application/errors.js';
import { DEFAULT_SCRYPT, generatePassword, hashPassword, safeEqual, verifyPassword } from './passwords.js';
import { roleSatisfies, type Auth, type LoginResult, type Principal } from '../../application/auth-ports.js';
import { createTokenService, type TokenKeys, type TokenService } from './token-service.js';
import { findUser, readUsers, writeUsers, type UserRecord } from './users-file.js';

/** Field names match ServerConfig['auth'] from src/config, plus dataDir and production. */
export interface AuthOptions {
  jwtSecret?: string | undefined;
  jwtPrivateKeyFile?: string | undefined;
  jwtPublicKeyFile?: string | undefined;
  jwtDurationMs: number;
  adminUser: string;
  adminPassword?: string | undefined;
  usersFile: string;
  agentToken?: string | undefined;
  metricsToken?: string | undefined;
  dataDir: string;
  production: boolean;
}

export type { Auth, LoginResult };

export interface AuthSetup {
  auth: Auth;
  /** Set only when this start generated the admin password: print it ONCE, never log it. */
  generatedAdminPassword: string | null;
  /** Set when this start generated the JWT secret file (a path, not the secret). */
  generatedSecretFile: string | null;
  /** The signer itself, for tests and tools. */
  tokens: TokenService;
}

const MIN_SECRET_CHARS = 32;

/** Reads or creates the token keys. Missing JWT_SECRET: an error in production, generated otherwise. */
export async function resolveTokenKeys(opts: AuthOptions): Promise<{ keys: TokenKeys; generatedFile: string | null }> {
  if (opts.jwtPrivateKeyFile || opts.jwtPublicKeyFile) {
    if (!opts.jwtPublicKeyFile) {
      throw new AppError('INVALID_ARGUMENT', 'JWT_PUBLIC_KEY_FILE: required with JWT_PRIVATE_KEY_FILE', { field: 'JWT_PUBLIC_KEY_FILE' });
    }
    const publicKey = await readKey(opts.jwtPublicKeyFile, 'JWT_PUBLIC_KEY_FILE');
    const privateKey = opts.jwtPrivateKeyFile ? await readKey(opts.jwtPrivateKeyFile, 'JWT_PRIVATE_KEY_FILE') : undefined;
    return { keys: { algorithm: 'RS256', publicKey, ...(privateKey ? { privateKey } : {}) }, generatedFile: null };
  }
  if (opts.jwtSecret !== undefined && opts.jwtSecret !== '') {
    if (opts.jwtSecret.length < MIN_SECRET_CHARS) {
      throw new AppError('INVALID_ARGUMENT', `JWT_SECRET: at least ${MIN_SECRET_CHARS} characters`, { field: 'JWT_SECRET' });
    }
    return { keys: { algorithm: 'HS256', secret: opts.jwtSecret }, generatedFile: null };
  }
  if (opts.production) {
    throw new AppError('INVALID_ARGUMENT',
      'JWT_SECRET: required when NODE_ENV=production (or set JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE)',
      { field: 'JWT_SECRET' });
  }
  // Embedded first-run mode: generate once, keep it under DATA_DIR so tokens survive restarts.
  const file = join(opts.dataDir, 'jwt-secret');
  const existing = await readSecretFile(file);
  if (existing) return { keys: { algorithm: 'HS256', secret: existing }, generatedFile: null };
  await mkdir(opts.dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process won the race: use its secret.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      const theirs = await readSecretFile(file);
      if (theirs) return { keys: { algorithm: 'HS256', secret: theirs }, generatedFile: null };
    }
    throw new AppError('UNAVAILABLE', `cannot write ${file}: ${(e as Error).message}`, { field: 'DATA_DIR', cause: e });
  }
  await chmod(file, 0o600);
  return { keys: { algorithm: 'HS256', secret }, generatedFile: file };
}

async function readKey(file: string, field: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${field}: cannot read ${file}: ${(e as Error).message}`, { field, cause: e });
  }
}

async function readSecretFile(file: string): Promise<string | null> {
  try {
    const s = (await readFile(file, 'utf8')).trim();
    return s.length >= MIN_SECRET_CHARS ? s : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AppError('UNAVAILABLE', `cannot read ${file}: ${(e as Error).message}`, { field: 'DATA_DIR', cause: e });
  }
}

/**
 * Seeds the admin: ADMIN_PASSWORD wins (kept in memory, hashed); otherwise an admin entry in
 * the users file is used; otherwise a password is generated and only its hash is stored.
 */
async function seedAdmin(opts: AuthOptions): Promise<{ envAdmin: UserRecord | null; generated: string | null }> {
  const created_at = new Date().toISOString();
  if (opts.adminPassword) {
    return {
      envAdmin: { username: opts.adminUser, role: 'admin', password_hash: await hashPassword(opts.adminPassword), created_at },
      generated: null,
    };
  }
  const users = await readUsers(opts.usersFile);
  if (users.some((u) => u.username === opts.adminUser)) return { envAdmin: null, generated: null };
  const generated = generatePassword();
  users.push({ username: opts.adminUser, role: 'admin', password_hash: await hashPassword(generated), created_at });
  await writeUsers(opts.usersFile, users, 'system (seed admin)');
  return { envAdmin: null, generated };
}

/** `verify` is replaceable so tests can see that unknown users pay for a scrypt check too. */
export async function createAuth(
  opts: AuthOptions, deps: { verify?: (password: string, hash: string) => Promise<boolean> } = {},
): Promise<AuthSetup> {
  const verify = deps.verify ?? verifyPassword;
  const { keys, generatedFile } = await resolveTokenKeys(opts);
  const tokens = createTokenService(keys, opts.jwtDurationMs);
  const { envAdmin, generated } = await seedAdmin(opts);
  // Unknown users are checked against this hash too, so a miss costs the same scrypt time as a hit.
  const dummyHash = await hashPassword(randomBytes(16).toString('hex'), DEFAULT_SCRYPT);
  const agentToken = opts.agentToken || undefined;
  const metricsToken = opts.metricsToken || undefined;

  const authenticate = (token: string | undefined): Principal => {
    if (!token) throw new AppError('UNAUTHENTICATED', 'missing bearer token');
    if (agentToken && safeEqual(token, agentToken)) return { sub: 'agent', role: 'agent', via: 'agent-token' };
    return tokens.verify(token);
  };

  const auth: Auth = {
    metricsTokenSet: metricsToken !== undefined,
    async login(username, password) {
      const user = envAdmin && username === envAdmin.username ? envAdmin : await findUser(opts.usersFile, username);
      const ok = await verify(password, user?.password_hash ?? dummyHash);
      // The agent role logs in with AGENT_TOKEN or a minted JWT, never through the dashboard.
      if (!user || !ok || user.role === 'agent') {
        throw new AppError('UNAUTHENTICATED', 'invalid username or password');
      }
      const { token, expiresAtMs } = tokens.sign(user.username, user.role);
      return { token, expiresAtMs, role: user.role, username: user.username };
    },
    authenticate,
    authorize(token, required) {
      if (required === 'public') return { sub: 'anonymous', role: 'viewer', via: 'jwt' };
      const principal = authenticate(token);
      if (!roleSatisfies(principal.role, required)) {
        throw new AppError('PERMISSION_DENIED', `role ${principal.role} may not do this (needs ${required})`);
      }
      return principal;
    },
    isMetricsToken(token) {
      return metricsToken !== undefined && token !== undefined && safeEqual(token, metricsToken);
    },
    issueToken: (sub, role, o) => tokens.sign(sub, role, o),
  };
  return { auth, tokens, generatedAdminPassword: generated, generatedSecretFile: generatedFile };
}

/** `Bearer <token>` -> token; anything else -> undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
