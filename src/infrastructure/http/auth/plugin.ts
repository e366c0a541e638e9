// Auth for the HTTP edge: one onRequest hook decides, from each route's own config, who may
// call it. Every /api/* route needs a viewer unless it says otherwise (secure by default).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Auth, Principal, RequiredRole } from '../../../application/auth-ports.js';
import { isRole } from '../../../application/auth-ports.js';
import { AppError, isAppError } from '../../../application/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route; /api/* routes without it need a viewer. */
    role?: RequiredRole;
  }
  interface FastifyRequest {
    /** Set by the auth hook (or authenticateWebSocket) once the caller is known. */
    user: Principal | null;
  }
  interface FastifyInstance {
    dockwatchAuth: Auth;
    dockwatchRoutes: RegisteredRoute[];
  }
}

export interface AuthPluginOptions {
  auth: Auth;
  /** When METRICS_TOKEN is set, /metrics needs `Bearer <METRICS_TOKEN>` (or a viewer JWT). */
  metricsToken?: string | undefined;
}

/** One route as the router registered it, for the protection test. */
export interface RegisteredRoute {
  method: string;
  url: string;
  role: RequiredRole | undefined;
  websocket: boolean;
}

export const isApiPath = (path: string): boolean => path === '/api' || path.startsWith('/api/');

/** `Bearer <token>` -> token; anything else -> undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

// Digests first: equal lengths for timingSafeEqual, and no early exit on the first differing byte.
const sameSecret = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** The HTTP status and body for an auth failure: 401/403, never a hint beyond the reason. */
export function authErrorReply(reply: FastifyReply, e: unknown): FastifyReply {
  const code = isAppError(e) ? e.code : 'UNAUTHENTICATED';
  if (code === 'PERMISSION_DENIED') {
    return reply.code(403).send({ error: 'PERMISSION_DENIED', message: (e as Error).message });
  }
  const message = isAppError(e) && e.code === 'UNAUTHENTICATED' ? e.message : 'authentication failed';
  return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'UNAUTHENTICATED', message });
}

/**
 * Register FIRST in buildApp (before any route), either `await authPlugin(app, opts)` or
 * `await app.register(authPlugin, opts)`: it is not encapsulated, so its hook covers every route.
 */
export async function authPlugin(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const { auth } = opts;
  const metricsGuarded = opts.metricsToken !== undefined && opts.metricsToken !== '' ? true : auth.metricsTokenSet;
  const routes: RegisteredRoute[] = [];
  const wsRoutes = new Set<string>();
  app.decorate('dockwatchAuth', auth);
  app.decorate('dockwatchRoutes', routes);
  app.decorateRequest('user', null);

  app.addHook('onRoute', (r: RouteOptions) => {
    const websocket = Boolean((r as { websocket?: boolean }).websocket || (r as { wsHandler?: unknown }).wsHandler);
    const role = (r.config as { role?: unknown } | undefined)?.role;
    if (role !== undefined && role !== 'public' && !isRole(role)) {
      throw new Error(`route ${r.url}: config.role must be public, viewer, admin or agent (got ${String(role)})`);
    }
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      routes.push({ method, url: r.url, role: role as RequiredRole | undefined, websocket });
      if (websocket) wsRoutes.add(r.url);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    const path = url ?? request.url.split('?')[0]!;
    // WebSocket routes answer the handshake and then close with 4401/4403 (authenticateWebSocket).
    if (url !== undefined && wsRoutes.has(url)) return undefined;
    const configured = request.routeOptions.config?.role;
    try {
      // The metrics route says 'public' for users and roles; METRICS_TOKEN, when set, still guards it.
      if (path === '/metrics') {
        if (!metricsGuarded) return undefined;
        const token = bearerToken(request.headers.authorization);
        if (token && (auth.isMetricsToken(token) || (opts.metricsToken !== undefined && sameSecret(token, opts.metricsToken)))) return undefined;
        request.user = auth.authorize(token, 'viewer');
        return undefined;
      }
      // Unknown /api paths too, so a 404 does not reveal which routes exist.
      const rawPath = request.url.split('?')[0]!;
      const required: RequiredRole | undefined = configured ?? (isApiPath(path) || isApiPath(rawPath) ? 'viewer' : undefined);
      if (required === undefined || required === 'public') return undefined;
      const principal = auth.authorize(bearerToken(request.headers.authorization), required);
      // The agent role feeds metrics in; it never reads the HTTP API.
      if (principal.role === 'agent' && required !== 'agent') {
        throw new AppError('PERMISSION_DENIED', 'the agent role may not use the HTTP API');
      }
      request.user = principal;
      return undefined;
    } catch (e) {
      return authErrorReply(reply, e);
    }
  });
}
// Not encapsulated when registered, like fastify-plugin does it: the hook must see every route.
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/**
 * authPlugin with its options bound, still unencapsulated: for HttpDeps.plugins, which the app
 * registers with `app.register(plugin)`. (A plain `async (app) => authPlugin(app, opts)` wrapper
 * WOULD be encapsulated and leave the app's own routes unguarded.)
 */
export function createAuthPlugin(opts: AuthPluginOptions): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => authPlugin(app, opts);
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

/** The shape HttpDeps.authenticateWebSocket takes. */
export const webSocketAuthenticator = (required: RequiredRole = 'viewer') =>
  async (request: FastifyRequest): Promise<void> => { authenticateWebSocket(request, required); };

/** The routes registered after authPlugin, as fastify's onRoute saw them. */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  if (!app.hasDecorator('dockwatchRoutes')) throw new Error('authPlugin is not registered on this app');
  return [...app.dockwatchRoutes];
}

/** The token a WebSocket handshake carries: `?token=` or a Sec-WebSocket-Protocol entry besides 'dockwatch'. */
export function webSocketToken(request: FastifyRequest): string | undefined {
  const q = (request.query as Record<string, unknown> | undefined)?.token;
  if (typeof q === 'string' && q) return q;
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header === 'string') {
    for (const p of header.split(',').map((s) => s.trim())) {
      if (!p || p === 'dockwatch') continue;
      return p.startsWith('bearer.') ? p.slice('bearer.'.length) : p;
    }
  }
  return bearerToken(request.headers.authorization);
}

/**
 * For the /ws handler: returns the caller or throws AppError UNAUTHENTICATED / PERMISSION_DENIED.
 * The handler then closes with wsCloseCode(err) (4401 / 4403). The browser offers protocols
 * ['dockwatch', '<jwt>']; ws answers with the first one, 'dockwatch', by default.
 */
export function authenticateWebSocket(request: FastifyRequest, required: RequiredRole = 'viewer'): Principal {
  const auth = request.server.dockwatchAuth;
  const principal = auth.authorize(webSocketToken(request), request.routeOptions.config?.role ?? required);
  if (principal.role === 'agent' && required !== 'agent') {
    throw new AppError('PERMISSION_DENIED', 'the agent role may not subscribe');
  }
  request.user = principal;
  return principal;
}

/** WebSocket close code for an auth failure: 4401 unauthenticated, 4403 wrong role. */
export const wsCloseCode = (e: unknown): number =>
  isAppError(e) && e.code === 'PERMISSION_DENIED' ? 4403 : 4401;

/** Strips `token=` from a URL before it is logged (for the logger's req serializer). */
export const redactTokenInUrl = (url: string): string => url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
