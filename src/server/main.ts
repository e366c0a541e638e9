// Composition root of the server: storage (embedded SQLite or InfluxDB behind the breaker and
// spool), the live bus (in-process or Redis), alerting and notifiers, auth, gRPC, HTTP and
// /metrics. Everything is constructed here with plain arguments; nothing else wires adapters.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger as PinoLogger } from 'pino';
import type { Redis } from 'ioredis';
import type { ServerConfig } from '../config/config.js';
import type { MetricsBus, SequenceLedger } from '../application/ports.js';
import type { MetricsStore } from '../application/store-ports.js';
import { createIngest } from '../application/ingest.js';
import type { MetricBatch } from '../domain/types.js';
import { compileSubscriptionFilter } from '../application/subscription-filter.js';
import { createAlertEngine } from '../application/alerting.js';
import { loadAlertRules } from '../application/alert-rules.js';
import { createControl } from '../application/control.js';
import type { ControlStore, AgentCommander } from '../application/control-ports.js';
import { AUTOHEAL_GAVE_UP_RULE, createAutoheal } from '../application/autoheal.js';
import { auditUserChanges } from '../application/user-audit.js';
import { readUsersDoc } from '../infrastructure/auth/users-file.js';
import type { ActionNotice } from '../application/alert-ports.js';
import { AUTOHEAL_EVENT_ACTION, type AgentCommand } from '../domain/control.js';
import { commandResultFromEvent } from '../domain/agent-commands.js';
import { createMemoryBus } from '../infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../infrastructure/memory/latest-store.js';
import { createSqliteStore } from '../infrastructure/sqlite/store.js';
import { createSqliteControlStore } from '../infrastructure/sqlite/control-store.js';
import { createRedisControlStore } from '../infrastructure/redis/control-store.js';
import { createRedisCommander } from '../infrastructure/redis/command-relay.js';
import { createLocalCommander } from '../infrastructure/grpc/commander.js';
import { controlRoutesPlugin } from '../infrastructure/http/routes/control.js';
import { createInfluxStore } from '../infrastructure/influx/store.js';
import { createResilientStore, type ResilientStore } from '../infrastructure/resilience/store.js';
import { createFileLedger } from '../infrastructure/resilience/ledger-file.js';
import { createGrpcServer } from '../infrastructure/grpc/server.js';
import { buildApp, type HealthReport } from '../infrastructure/http/app.js';
import { historyRoutes } from '../infrastructure/http/routes/history.js';
import { alertRoutesPlugin } from '../infrastructure/http/routes/alerts.js';
import { metricsRoutes, startMetricsListener, type MetricsListener } from '../infrastructure/http/routes/metrics.js';
import { createAuthPlugin, webSocketAuthenticator } from '../infrastructure/http/auth/plugin.js';
import { createAuthRoutes } from '../infrastructure/http/auth/routes.js';
import { createSecurityPlugin } from '../infrastructure/http/auth/security.js';
import { createAuth } from '../infrastructure/auth/auth-service.js';
import { grpcAuthorizer } from '../infrastructure/auth/grpc-authorizer.js';
import { createMetricsExporter } from '../infrastructure/prometheus/exporter.js';
import { createRedisClient } from '../infrastructure/redis/connection.js';
import { createRedisMetricsBus, type RedisMetricsBus } from '../infrastructure/redis/metrics-bus.js';
import { createRedisCooldown } from '../infrastructure/redis/cooldown.js';
import { createAlertStreamPublisher, startAlertStreamConsumer, type AlertStreamConsumer } from '../infrastructure/redis/alert-stream.js';
import { createChannels, type NotifierSettings } from '../infrastructure/notifiers/settings.js';
import { createNotificationDispatcher } from '../infrastructure/notifiers/delivery.js';
import { createLocalAlertPublisher, createLocalCooldown } from '../infrastructure/notifiers/local.js';
import { announceLifecycle, startReportScheduler } from '../infrastructure/notifiers/reports.js';

export interface ServerHandle {
  httpPort: number;
  grpcPort: number;
  metricsPort: number | undefined;
  /** Set only on the start that generated it: the caller prints it once. */
  generatedAdminPassword: string | null;
  adminUser: string;
  close(): Promise<void>;
}

const packageRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      createRequire(join(dir, 'package.json')).resolve('./package.json');
      return dir;
    } catch { /* keep walking up */ }
  }
  throw new Error('package root not found');
};

export async function startServer(cfg: ServerConfig, log: PinoLogger, opts: { serverId?: string } = {}): Promise<ServerHandle> {
  const serverId = opts.serverId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  mkdirSync(cfg.dataDir, { recursive: true });
  const cleanups: Array<() => Promise<void> | void> = [];

  // ---- auth first: a bad key file or a production start without a secret fails before anything binds.
  const authSetup = await createAuth({
    jwtSecret: cfg.auth.jwtSecret, jwtPrivateKeyFile: cfg.auth.jwtPrivateKeyFile, jwtPublicKeyFile: cfg.auth.jwtPublicKeyFile,
    jwtDurationMs: cfg.auth.jwtDurationMs, adminUser: cfg.auth.adminUser, adminPassword: cfg.auth.adminPassword,
    usersFile: cfg.auth.usersFile, agentToken: cfg.auth.agentToken, metricsToken: cfg.metricsToken,
    dataDir: cfg.dataDir, production: cfg.production,
  });
  if (authSetup.generatedSecretFile) log.info({ file: authSetup.generatedSecretFile }, 'generated a JWT secret and kept it for the next start');

  // ---- alert rules are validated at start-up too (file, path inside it, reason).
  const ruleDefaults = {
    cpuThreshold: cfg.alerts.cpuThreshold, memoryThreshold: cfg.alerts.memoryThreshold, watchContainers: cfg.alerts.watchContainers,
  };
  const rules = await loadAlertRules({ file: cfg.alerts.rulesFile, readText: (f) => readFile(f, 'utf8'), defaults: ruleDefaults });

  // ---- storage
  let store: MetricsStore;
  let resilient: ResilientStore | undefined;
  let ledger: SequenceLedger;
  if (cfg.storage.influxUrl) {
    const influx = createInfluxStore({
      url: cfg.storage.influxUrl, token: cfg.storage.influxToken, org: cfg.storage.influxOrg, bucket: cfg.storage.influxBucket,
      retentionDays: cfg.storage.retentionDays, log: log.child({ component: 'influx' }),
    });
    resilient = await createResilientStore(influx, {
      dataDir: cfg.dataDir, spoolMaxBytes: cfg.storage.spoolMaxBytes, maxLagBytes: cfg.storage.spoolMaxLagBytes,
      breaker: { failureThreshold: cfg.storage.breakerFailures, resetTimeoutMs: cfg.storage.breakerResetMs },
      retry: { attempts: cfg.storage.retryAttempts, initialDelayMs: cfg.storage.retryInitialMs },
      log: log.child({ component: 'store' }),
    });
    store = resilient;
    // The highest acked sequence per agent survives restarts, so resends after a restart are recognised.
    const fileLedger = createFileLedger({ dataDir: cfg.dataDir, log: log.child({ component: 'ledger' }) });
    ledger = fileLedger;
    cleanups.push(() => resilient!.close(), () => fileLedger.close());
  } else {
    const sqlite = createSqliteStore({ dataDir: cfg.dataDir, retentionDays: cfg.storage.retentionDays, log: log.child({ component: 'sqlite' }) });
    store = sqlite;
    ledger = sqlite.ledger();
    cleanups.push(() => sqlite.close());
  }

  // ---- live bus and latest samples
  const latest = createMemoryLatestStore();
  const localBus = createMemoryBus({ queueSize: cfg.subscriberQueue, log: log.child({ component: 'bus' }) });
  let bus: MetricsBus = localBus;
  let redis: Redis | undefined;
  let redisBus: RedisMetricsBus | undefined;
  let consumer: AlertStreamConsumer | undefined;
  if (cfg.alerts.redisUrl) {
    redis = createRedisClient(cfg.alerts.redisUrl, { log: log.child({ component: 'redis' }), name: `${serverId}-main` });
    const sub = createRedisClient(cfg.alerts.redisUrl, { log: log.child({ component: 'redis' }), name: `${serverId}-sub`, subscriber: true });
    redisBus = createRedisMetricsBus({ pub: redis, sub, local: localBus, replicaId: serverId, log: log.child({ component: 'redis-bus' }) });
    bus = redisBus;
    cleanups.push(async () => { await redisBus!.close(); });
  }
  // Batches of agents connected to other replicas reach this replica's latest store through the bus.
  const latestSub = localBus.subscribe((b) => latest.apply(b));
  cleanups.push(() => latestSub.close());

  // ---- metrics exporter (counters are fed by the pieces below)
  let wsClients = 0;
  let wsDropped = 0;
  const exporter = createMetricsExporter({
    latest,
    channels: ['console', 'slack', 'discord', 'email', 'webhook'],
    breakerState: resilient ? () => resilient!.breakerState() : undefined,
    spoolBatches: resilient ? () => resilient!.spoolStats().batches : undefined,
    grpcSubscribers: () => grpc.stats().subscribers,
    ingestInFlightSamples: () => grpc.stats().inFlightSamples,
    wsSubscribers: () => wsClients,
    slowSubscriberDropped: () => localBus.stats().dropped + grpc.stats().subscriberDropped + wsDropped,
  });

  // ---- notifiers and alerting
  const notifierSettings: NotifierSettings = {
    publicUrl: (cfg.publicUrl ?? `http://${cfg.host === '0.0.0.0' ? 'localhost' : cfg.host}:${cfg.port}`).replace(/\/+$/, ''),
    slackWebhookUrl: cfg.alerts.slackWebhookUrl,
    discordWebhookUrl: cfg.alerts.discordWebhookUrl,
    webhookUrl: cfg.alerts.webhookUrl,
    heartbeatUrl: cfg.alerts.heartbeatUrl,
    smtp: cfg.alerts.smtp.host
      ? {
        host: cfg.alerts.smtp.host, port: cfg.alerts.smtp.port, from: cfg.alerts.smtp.from ?? `dockwatch@${cfg.alerts.smtp.host}`,
        to: cfg.alerts.smtp.to, ...(cfg.alerts.smtp.user ? { user: cfg.alerts.smtp.user, pass: cfg.alerts.smtp.pass ?? '' } : {}),
      }
      : undefined,
    reportIntervalMs: cfg.alerts.reportIntervalMs ?? 0,
    heartbeatIntervalMs: cfg.alerts.heartbeatIntervalMs,
    notifyLifecycle: cfg.alerts.notifyLifecycle,
    cooldownMs: cfg.alerts.cooldownMs,
  };
  const dispatcher = createNotificationDispatcher({
    channels: createChannels(notifierSettings, log.child({ component: 'notify' })),
    log: log.child({ component: 'notify' }),
    notifyLifecycle: cfg.alerts.notifyLifecycle,
    onResult: (channel, ok) => exporter.record.notification(channel, ok),
  });
  let publisher;
  let cooldown;
  if (redis) {
    publisher = createAlertStreamPublisher(redis);
    cooldown = createRedisCooldown(redis);
    const consumerConn = createRedisClient(cfg.alerts.redisUrl!, { log: log.child({ component: 'redis' }), name: `${serverId}-notify` });
    consumer = startAlertStreamConsumer({
      redis: consumerConn, consumer: serverId, handler: (n) => dispatcher.deliver(n), log: log.child({ component: 'alert-stream' }),
    });
    cleanups.push(async () => { await consumer!.stop(); consumerConn.disconnect(); });
  } else {
    publisher = createLocalAlertPublisher(dispatcher);
    cooldown = createLocalCooldown();
  }
  // ---- control: silences, acknowledgements, autoheal history, audit (shared through Redis with replicas)
  let controlStore: ControlStore;
  if (redis) {
    controlStore = createRedisControlStore(redis);
  } else {
    const sqliteControl = createSqliteControlStore({ dataDir: cfg.dataDir, log: log.child({ component: 'control' }) });
    controlStore = sqliteControl;
  }
  cleanups.push(() => controlStore.close());
  const control = createControl({
    store: controlStore, now: Date.now, newId: randomUUID, log: log.child({ component: 'control' }),
    ruleIds: () => [...alerts.ruleSet().rules.map((r) => r.id), AUTOHEAL_GAVE_UP_RULE],
  });
  await control.refresh().catch((err: Error) => log.warn({ err }, 'silences not loaded yet; retrying every tick'));

  // Live alert transitions and actions for dashboards on this replica (the one that claimed them).
  const liveFeed = new EventEmitter().setMaxListeners(0);
  const alerts = createAlertEngine({
    rules, defaults: ruleDefaults, cooldown, publisher, history: store, log: log.child({ component: 'alerts' }), now: Date.now,
    cooldownMs: cfg.alerts.cooldownMs,
    repeatIntervalMs: cfg.alerts.repeatIntervalMs,
    offlineChecksPaused: redisBus ? () => !redisBus!.connected() : undefined,
    silencedBy: (a) => control.silencedBy(a),
    isAcknowledged: async (id) => (await control.acknowledgements([id])).has(id),
    observe: (events) => autoheal.observe(events),
    onTransition: (e, silencedBy) => {
      if (e.state === 'firing') exporter.record.alertFired();
      liveFeed.emit('alert', { ...e, silenced_by: silencedBy });
    },
  });

  // ---- autoheal: commands reach the agent through this replica's gRPC server, or another's via Redis
  const sendLocal = (agentId: string, cmd: AgentCommand): boolean => grpc.sendCommand(agentId, cmd);
  let commander: AgentCommander;
  if (redis) {
    const relaySub = createRedisClient(cfg.alerts.redisUrl!, { log: log.child({ component: 'redis' }), name: `${serverId}-commands`, subscriber: true });
    const relay = createRedisCommander({ pub: redis, sub: relaySub, replicaId: serverId, local: sendLocal, log });
    commander = relay;
    cleanups.push(() => relay.close());
  } else {
    commander = createLocalCommander(sendLocal);
  }
  const announce = (n: ActionNotice): void => {
    liveFeed.emit('action', n);
    void dispatcher.deliver({ kind: 'action', action: n });
  };
  const autoheal = createAutoheal({
    enabled: cfg.autoheal.enabled,
    limits: {
      maxRestarts: cfg.autoheal.maxRestarts, windowMs: cfg.autoheal.windowMs, backoffInitialMs: cfg.autoheal.backoffInitialMs,
      backoffMaxMs: cfg.autoheal.backoffMaxMs, maxPerHostPerMinute: cfg.autoheal.maxPerHostPerMinute, stableMs: cfg.autoheal.stableMs,
    },
    restartTimeoutSec: cfg.autoheal.restartTimeoutSec,
    store: controlStore, commander, claim: cooldown, alerts, audit: control.audit, announce,
    log: log.child({ component: 'autoheal' }), now: Date.now, newId: randomUUID,
  });

  const alertSub = localBus.subscribe((b) => {
    void alerts.onBatch(b);
    for (const ev of b.events) {
      if (ev.action !== AUTOHEAL_EVENT_ACTION) continue;
      const r = commandResultFromEvent(ev);
      if (r) void autoheal.onResult(b.hostname, ev.containerName, r).catch((err) => log.warn({ err, commandId: r.commandId }, 'autoheal result not recorded'));
    }
  });
  cleanups.push(() => alertSub.close());
  const checkUsers = () => auditUserChanges({
    read: async () => {
      const doc = await readUsersDoc(cfg.auth.usersFile);
      return { users: doc.users.map((u) => ({ username: u.username, role: u.role, passwordHash: u.password_hash })), ...(doc.changedBy ? { changedBy: doc.changedBy } : {}) };
    },
    store: controlStore, audit: control.audit, claim: cooldown,
    fingerprint: (t) => createHash('sha256').update(t).digest('hex').slice(0, 16),
  }).catch((err: Error) => { log.warn({ err }, 'user changes not audited yet'); return 0; });
  await checkUsers();
  let ticking = false;
  let ticks = 0;
  const alertTick = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void (async () => {
      await control.refresh().catch((err: Error) => log.warn({ err }, 'silences not refreshed'));
      await alerts.tick();
      await autoheal.tick();
      if (++ticks % 3 === 0) await checkUsers();
    })().finally(() => { ticking = false; });
  }, 2000);
  cleanups.push(() => clearInterval(alertTick));

  let samplesInWindow = 0;
  let samplesPerSecond = 0;
  const rateTimer = setInterval(() => { samplesPerSecond = samplesInWindow / 10; samplesInWindow = 0; }, 10_000);
  cleanups.push(() => clearInterval(rateTimer));
  const stopReports = startReportScheduler({
    log: log.child({ component: 'reports' }),
    digest: notifierSettings.reportIntervalMs > 0
      ? { intervalMs: notifierSettings.reportIntervalMs, serverId, latest, history: store, cooldown, sink: dispatcher, log: log.child({ component: 'reports' }) }
      : undefined,
    heartbeat: notifierSettings.heartbeatUrl
      ? {
        url: notifierSettings.heartbeatUrl, intervalMs: notifierSettings.heartbeatIntervalMs, serverId,
        stats: () => ({ agentsConnected: grpc.stats().agentStreams, samplesPerSecond, firingAlerts: alerts.firing().length }),
      }
      : undefined,
  });
  cleanups.push(() => stopReports());

  // ---- gRPC
  const ingestPipeline = createIngest({
    ledger, sink: store, latest, bus, log,
    onBatch: (b) => { exporter.record.samples(b.containers.length); samplesInWindow += b.containers.length; },
  });
  const ingest = (batch: MetricBatch) => ingestPipeline(batch).then((ack) => { exporter.record.batch(ack.status); return ack; });
  const grpc = createGrpcServer({
    ingest, bus: localBus, latest, authorize: grpcAuthorizer(authSetup.auth), log,
    maxMessageBytes: cfg.grpcMaxMessageBytes, subscriberQueue: cfg.subscriberQueue,
    maxInFlightSamples: cfg.ingestMaxInFlightSamples,
  });

  // ---- HTTP
  const webDir = join(packageRoot(), 'web');
  // chart.js does not export its UMD file; it sits beside the main entry in dist/.
  const chartJsFile = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');
  const app = await buildApp({
    logger: log.child({ component: 'http' }),
    latest,
    bus: localBus,
    webDir,
    chartJsFile,
    compileFilter: (q) => {
      const split = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
      const f = compileSubscriptionFilter(
        { hosts: split(q.host), containerIds: split(q.id), names: split(q.name), labels: split(q.label) },
        { hosts: 'host', containerIds: 'id', names: 'name', labels: 'label' },
      );
      return (c) => f.matchesContainer(c);
    },
    authenticateWebSocket: webSocketAuthenticator('viewer'),
    wsMaxBufferedBytes: cfg.wsMaxBufferedBytes,
    alertFeed: (listener) => {
      liveFeed.on('alert', listener);
      return () => liveFeed.off('alert', listener);
    },
    actionFeed: (listener) => {
      liveFeed.on('action', listener);
      return () => liveFeed.off('action', listener);
    },
    onWsClients: (n) => { wsClients = n; },
    onWsDropped: (n) => { wsDropped = n; },
    health: () => health(),
    plugins: [
      createSecurityPlugin(),
      createAuthPlugin({ auth: authSetup.auth, metricsToken: cfg.metricsToken }),
      createAuthRoutes({ auth: authSetup.auth, loginRateLimit: cfg.auth.loginRateLimit }),
      async (a) => historyRoutes(a, { store }),
      alertRoutesPlugin({ rules: alerts, history: store, audit: control.audit }),
      controlRoutesPlugin({ control, alerts }),
      async (a) => a.register(metricsRoutes, { render: () => exporter.render(), contentType: exporter.contentType }),
    ],
  });

  async function health(): Promise<HealthReport> {
    const components: HealthReport['components'] = {};
    const storeHealth = await store.health().catch((err: Error) => ({ ok: false, error: err.message }));
    const breaker = resilient?.breakerState();
    components['store'] = {
      ...storeHealth,
      backend: cfg.storage.influxUrl ? 'influxdb' : 'sqlite',
      status: breaker && breaker !== 'closed' ? 'degraded' : storeHealth.ok ? 'ok' : 'degraded',
      ...(resilient ? { breaker, spool: resilient.spoolStats() } : {}),
    };
    components['grpc'] = { status: 'ok', ...grpc.stats() };
    const a = alerts.health();
    components['alerting'] = { status: a.status, ...(a.reason ? { reason: a.reason } : {}), queued: a.queued, firing: alerts.firing().length };
    components['redis'] = redis
      ? { status: redis.status === 'ready' && redisBus!.connected() ? 'ok' : 'degraded', ...(redis.status === 'ready' ? {} : { reason: `redis ${redis.status}` }) }
      : { status: 'disabled', reason: 'REDIS_URL not set: in-process bus, single replica' };
    components['notifiers'] = { status: 'ok', channels: dispatcher.channels(), ...dispatcher.stats() };
    const degraded = Object.values(components).some((c) => c.status === 'degraded' || c.status === 'down');
    return { status: degraded ? 'degraded' : 'ok', components };
  }

  // ---- listen: gRPC, HTTP, then the optional metrics port
  const grpcPort = await grpc.listen(cfg.grpcHost, cfg.grpcPort);
  await app.listen({ host: cfg.host, port: cfg.port });
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : cfg.port;
  let metricsListener: MetricsListener | undefined;
  if (cfg.metricsPort !== undefined) {
    metricsListener = await startMetricsListener(cfg.metricsPort, cfg.host, () => exporter.render(), {
      token: cfg.metricsToken, contentType: exporter.contentType, onError: (err) => log.error({ err }, 'metrics render failed'),
    });
  }
  void announceLifecycle(dispatcher, 'start', serverId).catch(() => undefined);
  log.info({ serverId, http: `${cfg.host}:${httpPort}`, grpc: `${cfg.grpcHost}:${grpcPort}`, store: cfg.storage.influxUrl ? 'influxdb' : 'sqlite', bus: redis ? 'redis' : 'memory' }, 'server started');

  let closed = false;
  return {
    httpPort, grpcPort, metricsPort: metricsListener?.port,
    generatedAdminPassword: authSetup.generatedAdminPassword,
    adminUser: cfg.auth.adminUser,
    async close() {
      if (closed) return;
      closed = true;
      await announceLifecycle(dispatcher, 'stop', serverId).catch(() => undefined);
      // Agents first: in-flight batches are finished and acked before the store closes.
      await grpc.close(10_000);
      await app.close();
      await metricsListener?.close();
      for (const c of cleanups.reverse()) await c();
      redis?.disconnect();
      log.info({ serverId }, 'server stopped');
    },
  };
}
