// Security headers. The CSP lets the dashboard's own files run and nothing else: no inline
// script or style, no CDN, WebSocket only back to the same origin ('self' covers ws:/wss:
// of the page's own host in CSP Level 3, which current browsers implement).
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';

export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  connectSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  scriptSrcAttr: ["'none'"],
  // Plain-http installs on a LAN are common; upgrading their requests to https would break them.
  upgradeInsecureRequests: null,
};

export async function securityPlugin(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // Same reason: HSTS only makes sense behind TLS, which a proxy in front of us sets.
    strictTransportSecurity: false,
  });
}
(securityPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** securityPlugin as an unencapsulated plugin for HttpDeps.plugins. */
export function createSecurityPlugin(): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => securityPlugin(app);
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
