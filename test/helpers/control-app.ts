// The lead's real buildApp with the real auth, security headers, alert routes and the control
// routes, over a real createControl() and a real createAlertEngine (rules: the defaults) on an
// in-memory ControlStore. fire() feeds the engine batches that make `stopped` fire for a
// container, so /api/alerts/active has something to show. For the route and the page tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { type AlertEngine, createAlertEngine } from '../../src/application/alerting.js';
import type { AlertEvent, AlertQuery, StoredAlert } from '../../src/application/alert-ports.js';
import type { Auth } from '../../src/application/auth-ports.js';
import { type Control, createControl } from '../../src/application/control.js';
import { defaultRules } from '../../src/domain/alerts/rules.js';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { buildApp } from '../../src/infrastructure/http/app.js';
import { createAuthPlugin, webSocketAuthenticator } from '../../src/infrastructure/http/auth/plugin.js';
import { createAuthRoutes } from '../../src/infrastructure/http/auth/routes.js';
import { createSecurityPlugin } from '../../src/infrastructure/http/auth/security.js';
import { alertRoutesPlugin } from '../../src/infrastructure/http/routes/alerts.js';
import { controlRoutesPlugin } from '../../src/infrastructure/http/routes/control.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createLocalCooldown } from '../../src/infrastructure/notifiers/local.js';
import { batch, event, sample } from './alert-batches.js';
import { type MemoryControlStore, createMemoryControlStore } from './memory-control-store.js';
import { memoryLog } from './silent-log.js';

export const ADMIN = { username: 'admin', password: 'admin-password' };

export interface ControlApp {
  app: FastifyInstance;
  auth: Auth;
  engine: AlertEngine;
  control: Control;
  store: MemoryControlStore;
  /** Every transition the engine recorded (what GET /api/alerts serves). */
  history: StoredAlert[];
  /** A bearer token for this user and role. */
  token(sub: string, role: 'viewer' | 'admin'): string;
  /** Makes `stopped` fire for a container on host-a (it runs, then dies with exit code 2); returns the firing event. */
  fire(name: string, labels?: Record<string, string>): Promise<AlertEvent>;
  /** The container fire() stopped runs again: its `stopped` alert resolves. */
  recover(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function buildControlApp(opts: { now?: () => number } = {}): Promise<ControlApp> {
  const now = opts.now ?? Date.now;
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-control-'));
  const { auth } = await createAuth({
    jwtSecret: 'control-routes-secret-'.padEnd(48, 'c'), jwtDurationMs: 3_600_000, adminUser: ADMIN.username,
    adminPassword: ADMIN.password, usersFile: join(dataDir, 'users.json'), dataDir, production: false,
  });
  const log = memoryLog();
  const store = createMemoryControlStore();
  const history: StoredAlert[] = [];
  const listeners = new Set<(a: unknown) => void>();
  const alertHistory = {
    async writeAlertEvent(e: AlertEvent) { history.push(e); },
    async queryAlerts(q: AlertQuery): Promise<StoredAlert[]> {
      return history.filter((r) => r.timestampMs >= q.fromMs && r.timestampMs <= q.toMs && (!q.state || q.state === r.state))
        .slice(-(q.limit ?? 1000));
    },
  };
  // The engine and the control need each other (rule ids, silences): late-bound like main.ts would.
  let engine!: AlertEngine;
  const control = createControl({ store, now, newId: randomUUID, log, ruleIds: () => engine.ruleSet().rules.map((r) => r.id) });
  engine = createAlertEngine({
    rules: defaultRules(), defaults: {}, cooldown: createLocalCooldown(), log, now,
    history: alertHistory,
    publisher: { publish: async () => {} },
    silencedBy: (a) => control.silencedBy(a),
    isAcknowledged: async (id) => (await control.acknowledgements([id])).has(id),
    onTransition: (e) => { for (const l of listeners) l(e); },
  });

  const latest = createMemoryLatestStore();
  const app = await buildApp({
    logger: pino({ level: 'silent' }),
    latest,
    bus: createMemoryBus(),
    health: () => ({ status: 'ok', components: {} }),
    webDir: resolve('web'),
    chartJsFile: resolve('node_modules/chart.js/dist/chart.umd.js'),
    compileFilter: () => () => true,
    authenticateWebSocket: webSocketAuthenticator(),
    alertFeed: (l) => { listeners.add(l); return () => listeners.delete(l); },
    plugins: [createSecurityPlugin(), createAuthPlugin({ auth }), createAuthRoutes({ auth, loginRateLimit: 50 }),
      alertRoutesPlugin({ rules: engine, history: alertHistory, now, audit: (e) => control.audit(e) }),
      controlRoutesPlugin({ control, alerts: engine })],
  });

  return {
    app, auth, engine, control, store, history,
    token: (sub, role) => auth.issueToken(sub, role).token,
    async fire(name, labels = {}) {
      const t = now();
      const id = `${name}-id`;
      await engine.onBatch(batch({ timestampMs: t - 2, containers: [sample({ id, name, labels, timestampMs: t - 2 })] }));
      await engine.onBatch(batch({ timestampMs: t - 1, containers: [sample({ id, name, labels, timestampMs: t - 1, state: 'exited', exitCode: 2 })],
        events: [event({ containerId: id, containerName: name, action: 'die', timestampMs: t - 1, exitCode: 2, attributes: { exitCode: '2' } })] }));
      const e = engine.firing().find((a) => a.containerId === id && a.ruleId === 'stopped');
      if (!e) throw new Error(`stopped did not fire for ${name}`);
      return e;
    },
    async recover(name) {
      const t = now();
      await engine.onBatch(batch({ timestampMs: t, containers: [sample({ id: `${name}-id`, name, timestampMs: t, startedAtMs: t })] }));
    },
    async close() {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
