// A small server for the browser tests until the real one exists: the real auth plugins, the
// real web/ files and Chart.js, and /api + /ws with the real shapes, fed by synthetic samples.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import fastifyStatic from '@fastify/static';
import type { WebSocket } from 'ws';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { addUser } from '../../src/infrastructure/auth/users-file.js';
import { authenticateWebSocket, createAuthPlugin, wsCloseCode } from '../../src/infrastructure/http/auth/plugin.js';
import { createAuthRoutes } from '../../src/infrastructure/http/auth/routes.js';
import { createSecurityPlugin } from '../../src/infrastructure/http/auth/security.js';

export const JWT_SECRET = 'web-test-secret-'.padEnd(48, 'w');

export interface FakeContainer {
  id: string; name: string; image: string; host: string; state: string; health: string;
  labels: Record<string, string>;
  stats: {
    cpu_percent: number; mem_usage_bytes: number; mem_limit_bytes: number; mem_percent: number;
    net_rx_bytes: number; net_tx_bytes: number; blk_read_bytes: number; blk_write_bytes: number; pids: number; ts: number;
  };
}

export interface HistoryPoint { ts: number; [k: string]: number }

export interface FakeServer {
  app: FastifyInstance;
  url: string;
  containers: Map<string, FakeContainer>;
  history: Map<string, HistoryPoint[]>;
  alerts: unknown[];
  /** Updates the latest state and pushes the sample to every /ws client. */
  pushSample(c: FakeContainer): void;
  pushHost(host: string, sample: Record<string, unknown>): void;
  pushRaw(msg: unknown): void;
  /** Closes every live socket with this code (4401 = session over, 1012 = restart). */
  closeSockets(code: number): void;
  socketCount(): number;
  close(): Promise<void>;
}

export async function startFakeServer(opts: { loginRateLimit?: number } = {}): Promise<FakeServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-web-'));
  const usersFile = join(dataDir, 'users.json');
  await addUser(usersFile, 'vera', 'viewer', 'vera-password');
  const { auth } = await createAuth({
    jwtSecret: JWT_SECRET, jwtDurationMs: 3_600_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile, dataDir, production: false,
  });
  const containers = new Map<string, FakeContainer>();
  const history = new Map<string, HistoryPoint[]>();
  const alerts: unknown[] = [];
  const sockets = new Set<WebSocket>();

  const app = Fastify();
  await app.register(websocket);
  await app.register(createSecurityPlugin());
  await app.register(createAuthPlugin({ auth }));
  await app.register(createAuthRoutes({ auth, loginRateLimit: opts.loginRateLimit ?? 3 }));

  app.get('/api/hosts', async () => [{ id: 'agent-1', hostname: 'web-host-1', last_seen: new Date().toISOString(), interval_ms: 1000, container_count: containers.size, sample: null }]);
  app.get('/api/containers', async () => [...containers.values()]);
  app.get('/api/alerts', async () => ({ fromMs: 0, toMs: Date.now(), alerts }));
  app.get('/api/containers/:id/events', async () => ({ events: [] }));
  app.get('/api/metrics', async (req) => {
    const q = req.query as { container_id?: string; from?: string; to?: string };
    const from = Number(q.from);
    const to = Number(q.to);
    const points = (history.get(q.container_id ?? '') ?? []).filter((p) => p.ts >= from && p.ts <= to);
    return { step_ms: 10_000, points };
  });
  app.get('/api/hosts/:id/metrics', async (req) => {
    const q = req.query as { from?: string; to?: string };
    const points = (history.get(`host:${(req.params as { id: string }).id}`) ?? []).filter((p) => p.ts >= Number(q.from) && p.ts <= Number(q.to));
    return { step_ms: 10_000, points };
  });
  app.get('/ws', { websocket: true, config: { role: 'viewer' } }, (socket, request) => {
    try {
      authenticateWebSocket(request);
    } catch (e) {
      socket.close(wsCloseCode(e), 'unauthorized');
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    for (const c of containers.values()) socket.send(JSON.stringify({ type: 'sample', host: c.host, container: c }));
  });
  const chartJs = readFileSync(resolve('node_modules/chart.js/dist/chart.umd.js'));
  app.get('/vendor/chart.umd.js', { config: { role: 'public' } }, async (_req, reply) => reply.type('application/javascript; charset=utf-8').send(chartJs));
  await app.register(fastifyStatic, { root: resolve('web'), prefix: '/', index: ['index.html'] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;

  const broadcast = (msg: unknown) => { const text = JSON.stringify(msg); for (const s of sockets) s.send(text); };
  return {
    app, url: `http://127.0.0.1:${port}`, containers, history, alerts,
    pushSample(c) { containers.set(c.id, c); broadcast({ type: 'sample', host: c.host, container: c }); },
    pushHost(host, sample) { broadcast({ type: 'host', host, agent_id: 'agent-1', sample }); },
    pushRaw: broadcast,
    closeSockets(code) { for (const s of sockets) s.close(code, 'test'); },
    socketCount: () => sockets.size,
    close: async () => { for (const s of sockets) s.terminate(); await app.close(); },
  };
}
