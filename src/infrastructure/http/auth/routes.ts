// POST /api/auth/login and GET /api/auth/me. Logins are rate-limited per client IP and
// username; a wrong password and an unknown user get the same 401.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Auth } from '../../../application/auth-ports.js';
import { authErrorReply } from './plugin.js';

export interface AuthRoutesOptions {
  auth: Auth;
  /** Login attempts per minute per IP + username (LOGIN_RATE_LIMIT, default 5). */
  loginRateLimit?: number;
  loginRateWindowMs?: number;
}

const loginSchema = {
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 64 },
      password: { type: 'string', minLength: 1, maxLength: 1024 },
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['token', 'expires_at', 'role', 'username'],
      properties: {
        token: { type: 'string' }, expires_at: { type: 'string' }, role: { type: 'string' }, username: { type: 'string' },
      },
    },
  },
} as const;

const meSchema = {
  response: {
    200: {
      type: 'object',
      properties: { username: { type: 'string' }, role: { type: 'string' }, expires_at: { type: ['string', 'null'] } },
    },
  },
} as const;

/** Register with `app.register(authRoutes, { auth, loginRateLimit })` (encapsulated: its rate limiter stays local). */
export async function authRoutes(app: FastifyInstance, opts: AuthRoutesOptions): Promise<void> {
  const { auth } = opts;
  if (!app.hasDecorator('rateLimit')) await app.register(rateLimit, { global: false });

  app.post<{ Body: { username: string; password: string } }>('/api/auth/login', {
    schema: loginSchema,
    config: {
      role: 'public',
      rateLimit: {
        max: opts.loginRateLimit ?? 5,
        timeWindow: opts.loginRateWindowMs ?? 60_000,
        // After body parsing, so the key can hold the username; before validation, so junk counts too.
        hook: 'preValidation',
        keyGenerator: (req) => {
          const body = req.body as { username?: unknown } | undefined;
          const name = typeof body?.username === 'string' ? body.username.slice(0, 64) : '';
          return `login|${req.ip}|${name}`;
        },
        errorResponseBuilder: (_req, ctx) => ({
          statusCode: 429,
          error: 'RESOURCE_EXHAUSTED',
          message: `too many login attempts, retry in ${ctx.after}`,
        }),
      },
    },
  }, async (request, reply) => {
    try {
      const r = await auth.login(request.body.username, request.body.password);
      return { token: r.token, expires_at: new Date(r.expiresAtMs).toISOString(), role: r.role, username: r.username };
    } catch (e) {
      return authErrorReply(reply, e);
    }
  });

  app.get('/api/auth/me', { schema: meSchema, config: { role: 'viewer' } }, async (request) => ({
    username: request.user?.sub ?? '',
    role: request.user?.role ?? '',
    expires_at: request.user?.expiresAtMs ? new Date(request.user.expiresAtMs).toISOString() : null,
  }));
}

/** authRoutes with its options bound, for HttpDeps.plugins (encapsulated on purpose). */
export const createAuthRoutes = (opts: AuthRoutesOptions): FastifyPluginAsync => async (app) => authRoutes(app, opts);
