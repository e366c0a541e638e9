// The protection test, built from the router's own list of registered routes (authPlugin
// records them through fastify's onRoute hook), so a new route cannot ship unprotected.
// For every guarded route: no token -> 401, forged -> 401, expired -> 401, wrong role -> 403,
// and the right role gets past the guard. WebSocket routes: close codes 4401 / 4403.
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import jwt from 'jsonwebtoken';
import type WebSocket from 'ws';
import type { RequiredRole, Role } from '../../src/application/auth-ports.js';
import { isApiPath, registeredRoutes, type RegisteredRoute } from '../../src/infrastructure/http/auth/plugin.js';

export interface ProtectionTokens {
  viewer: string;
  admin: string;
  agent: string;
  /** Signed with another key. */
  forged: string;
  /** alg: none. */
  unsigned: string;
  expired: string;
}

/** Tokens for an HS256 setup with this secret (what createAuth signs: iss 'dockwatch', sub, role). */
export function makeTestTokens(secret: string): ProtectionTokens {
  const now = Math.floor(Date.now() / 1000);
  const sign = (role: Role, key = secret, exp = now + 3600) =>
    jwt.sign({ role, iat: now, exp }, key, { algorithm: 'HS256', subject: `test-${role}`, issuer: 'dockwatch' });
  return {
    viewer: sign('viewer'),
    admin: sign('admin'),
    agent: sign('agent'),
    forged: sign('admin', `${secret}-but-not-quite`),
    unsigned: jwt.sign({ role: 'admin', iat: now, exp: now + 3600, sub: 'm', iss: 'dockwatch' }, '', { algorithm: 'none' }),
    expired: jwt.sign({ role: 'admin', iat: now - 7200, exp: now - 3600 }, secret, { algorithm: 'HS256', subject: 'test-old', issuer: 'dockwatch' }),
  };
}

export interface ProtectionOptions {
  /** Route URLs that may stay open (e.g. '/health', '/', '/*'); any other open route fails the test. */
  allowOpen?: string[];
  /** /metrics is guarded when METRICS_TOKEN is set. */
  metricsGuarded?: boolean;
}

const fill = (url: string): string => url.replace(/:[^/]+/g, 'x').replace(/\*/g, 'x');

function requiredOf(r: RegisteredRoute, opts: ProtectionOptions): RequiredRole | undefined {
  if (r.url === '/metrics' && opts.metricsGuarded) return 'viewer';
  if (r.role !== undefined) return r.role;
  if (isApiPath(r.url) || r.websocket) return 'viewer';
  return undefined;
}

const wrongRoleFor = (required: Role): Role => (required === 'viewer' ? 'agent' : required === 'admin' ? 'viewer' : 'viewer');
const rightRoleFor = (required: Role): Role => required;

async function httpStatus(app: FastifyInstance, method: string, url: string, token: string | undefined): Promise<number> {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ...(['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {}),
  });
  return res.statusCode;
}

/** Resolves with the close code, or 'open' when the socket stayed open for `graceMs`. */
async function wsOutcome(app: FastifyInstance, url: string, token: string | undefined, graceMs = 400): Promise<number | 'open' | string> {
  const inject = (app as unknown as { injectWS?: (p: string, ctx?: object) => Promise<WebSocket> }).injectWS;
  if (!inject) throw new Error('@fastify/websocket is not registered: cannot check WebSocket routes');
  let ws: WebSocket;
  try {
    ws = await inject.call(app, url, { headers: token === undefined ? {} : { 'sec-websocket-protocol': `dockwatch, ${token}` } });
  } catch (e) {
    return `handshake refused: ${(e as Error).message}`;
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => { ws.terminate(); resolve('open'); }, graceMs);
    ws.once('close', (code: number) => { clearTimeout(timer); resolve(code); });
  });
}

/** Every (method, path) in the router's tree, from fastify's printRoutes. */
export function routerTree(app: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([\s│]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    // The root may print as '/' with children 'health', or children as '/health'; a root wildcard as '*'.
    const full = path.startsWith('/') ? path : `/${path}`;
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) out.push(`${method} ${full}`);
  }
  return out;
}

export async function assertAllRoutesProtected(
  app: FastifyInstance, tokens: ProtectionTokens, opts: ProtectionOptions = {},
): Promise<{ checked: RegisteredRoute[]; open: RegisteredRoute[] }> {
  await app.ready();
  const routes = registeredRoutes(app).filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
  assert.ok(routes.length > 0, 'no routes registered after authPlugin: register it before the routes');
  const checked: RegisteredRoute[] = [];
  const open: RegisteredRoute[] = [];
  const failures: string[] = [];
  // A route registered before authPlugin escapes its onRoute list and its hook: compare with the router.
  const seen = new Set(registeredRoutes(app).map((r) => `${r.method} ${r.url}`));
  for (const entry of routerTree(app)) {
    if (!seen.has(entry) && !entry.startsWith('HEAD ')) failures.push(`${entry} is in the router but was registered before authPlugin`);
  }
  for (const r of routes) {
    const required = requiredOf(r, opts);
    if (required === undefined || required === 'public') {
      open.push(r);
      if (opts.allowOpen && !opts.allowOpen.includes(r.url)) failures.push(`${r.method} ${r.url} is open but not in allowOpen`);
      continue;
    }
    checked.push(r);
    const url = fill(r.url);
    const cases: [string, string | undefined, number][] = [
      ['no token', undefined, 401],
      ['forged token', tokens.forged, 401],
      ['alg none token', tokens.unsigned, 401],
      ['expired token', tokens.expired, 401],
      [`wrong role (${wrongRoleFor(required)})`, tokens[wrongRoleFor(required)], 403],
    ];
    for (const [what, token, want] of cases) {
      if (r.websocket) {
        const got = await wsOutcome(app, url, token);
        if (got !== want + 4000) failures.push(`WS ${r.url} with ${what}: expected close ${want + 4000}, got ${got}`);
      } else {
        const got = await httpStatus(app, r.method, url, token);
        if (got !== want) failures.push(`${r.method} ${r.url} with ${what}: expected ${want}, got ${got}`);
      }
    }
    // The right role must get past the guard, or the checks above prove nothing.
    const good = tokens[rightRoleFor(required)];
    if (r.websocket) {
      const got = await wsOutcome(app, url, good);
      if (got !== 'open' && (typeof got !== 'number' || got >= 4400)) failures.push(`WS ${r.url} refused a ${required} token: ${got}`);
    } else {
      const got = await httpStatus(app, r.method, url, good);
      if (got === 401 || got === 403) failures.push(`${r.method} ${r.url} refused a ${required} token: ${got}`);
    }
  }
  assert.deepEqual(failures, [], failures.join('\n'));
  return { checked, open };
}
