// Every setting of every program, validated before anything binds a port.
// A bad value throws ConfigError; the CLI prints it and exits with code 2.
import { hostname } from 'node:os';
import { EnvReader, type Env } from './env.js';
import { readDockerSettings, type DockerTlsConfig } from './docker-tls.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AgentConfig {
  logLevel: LogLevel;
  /** One host:port, several comma-separated, or a name with several addresses (replicas). */
  serverAddr: string;
  /** On another server than its first choice, the agent tries moving back after 1-4x this (SERVER_REBALANCE_AFTER; off: never). */
  serverRebalanceMs: number | undefined;
  agentId: string;
  hostname: string;
  collectIntervalMs: number;
  dockerHost: string | undefined;
  /** DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH for a tcp:// engine, read as the docker CLI reads them. */
  dockerTls: DockerTlsConfig | undefined;
  /** tcp:// engine (even 127.0.0.1): stats from the Engine API only, no host sample from this machine's /proc. */
  dockerRemote: boolean;
  procRoot: string;
  sysRoot: string;
  hostRoot: string;
  agentToken: string | undefined;
  /** TLS to the server (e.g. through a load balancer); a CA file for private roots. */
  serverTls: boolean;
  serverCaFile: string | undefined;
  queueSize: number;
  ecsMetadataUri: string | undefined;
  statusFile: string | undefined;
  /** AGENT_LOW_MEMORY (default true): `dockwatch agent` trades V8's optimizing compiler and young-generation growth for RSS. */
  lowMemory: boolean;
  /** AUTOHEAL=on (default): the agent carries out the server's restart commands; off refuses them. */
  autoheal: boolean;
}

export interface ServerConfig {
  logLevel: LogLevel;
  production: boolean;
  host: string;
  port: number;
  grpcHost: string;
  grpcPort: number;
  metricsPort: number | undefined;
  metricsToken: string | undefined;
  dataDir: string;
  publicUrl: string | undefined;
  grpcMaxMessageBytes: number;
  subscriberQueue: number;
  /** Unacked agent samples the server holds at most, shared between agent streams. */
  ingestMaxInFlightSamples: number;
  wsMaxBufferedBytes: number;
  storage: {
    influxUrl: string | undefined;
    influxToken: string | undefined;
    influxOrg: string;
    influxBucket: string;
    retentionDays: number;
    breakerFailures: number;
    breakerResetMs: number;
    retryAttempts: number;
    retryInitialMs: number;
    spoolMaxBytes: number;
    spoolMaxLagBytes: number;
  };
  auth: {
    jwtSecret: string | undefined;
    jwtPrivateKeyFile: string | undefined;
    jwtPublicKeyFile: string | undefined;
    jwtDurationMs: number;
    adminUser: string;
    adminPassword: string | undefined;
    usersFile: string;
    agentToken: string | undefined;
    loginRateLimit: number;
  };
  alerts: {
    cpuThreshold: number;
    memoryThreshold: number;
    rulesFile: string | undefined;
    cooldownMs: number;
    watchContainers: string[];
    redisUrl: string | undefined;
    slackWebhookUrl: string | undefined;
    discordWebhookUrl: string | undefined;
    webhookUrl: string | undefined;
    heartbeatUrl: string | undefined;
    heartbeatIntervalMs: number;
    reportIntervalMs: number | undefined;
    notifyLifecycle: boolean;
    /** ALERT_REPEAT_INTERVAL: reminders for alerts still firing and not acknowledged; 0 = never. */
    repeatIntervalMs: number;
    smtp: {
      host: string | undefined;
      port: number;
      user: string | undefined;
      pass: string | undefined;
      from: string | undefined;
      to: string[];
    };
  };
  autoheal: {
    /** AUTOHEAL=off forbids every restart, whatever labels and rules say. */
    enabled: boolean;
    maxRestarts: number;
    windowMs: number;
    backoffInitialMs: number;
    backoffMaxMs: number;
    maxPerHostPerMinute: number;
    stableMs: number;
    restartTimeoutSec: number;
  };
}

function common(r: EnvReader) {
  return { logLevel: r.oneOf('LOG_LEVEL', 'info', LOG_LEVELS) };
}

export function loadAgentConfig(env: Env): AgentConfig {
  const r = new EnvReader(env);
  const host = hostname();
  const docker = readDockerSettings(env, r.problems);
  const cfg: AgentConfig = {
    ...common(r),
    serverAddr: r.hostPortList('SERVER_ADDR', '127.0.0.1:50051'),
    serverRebalanceMs: r.duration('SERVER_REBALANCE_AFTER', '30s', 100),
    agentId: r.string('AGENT_ID', host),
    // A remote engine's containers run on its host, not on ours.
    hostname: r.string('HOST_NAME', docker.remoteHost ?? host),
    collectIntervalMs: r.duration('COLLECT_INTERVAL', '2s', 1000),
    dockerHost: docker.dockerHost,
    dockerTls: docker.dockerTls,
    dockerRemote: docker.remote,
    procRoot: r.string('HOST_PROC', '/proc'),
    sysRoot: r.string('HOST_SYS', '/sys'),
    hostRoot: r.string('HOST_ROOT', ''),
    agentToken: r.secret('AGENT_TOKEN'),
    serverTls: r.bool('SERVER_TLS', false),
    serverCaFile: r.string('SERVER_CA_FILE'),
    queueSize: r.int('AGENT_QUEUE_SIZE', 1000, 1, 1_000_000),
    ecsMetadataUri: r.url('ECS_CONTAINER_METADATA_URI_V4'),
    statusFile: r.string('AGENT_STATUS_FILE'),
    lowMemory: r.bool('AGENT_LOW_MEMORY', true),
    // Read like the server's AUTOHEAL (on/off, true/false...): `dockwatch all` reads both from one variable.
    autoheal: r.bool('AUTOHEAL', true),
  };
  if (cfg.dockerHost !== undefined && !/^(unix|tcp|http|https|npipe):\/\//.test(cfg.dockerHost)) {
    r.problems.push(`DOCKER_HOST=${JSON.stringify(cfg.dockerHost)}: expected unix:///path/docker.sock or tcp://host:port`);
  }
  r.done();
  return cfg;
}

/** REDIS_URL wins; REDIS_ADDR=host:port is the short form. */
function redisUrl(r: EnvReader): string | undefined {
  const url = r.url('REDIS_URL', ['redis:', 'rediss:']);
  if (url) return url;
  if (r.string('REDIS_ADDR') === undefined) return undefined;
  return `redis://${r.hostPort('REDIS_ADDR', 'localhost:6379')}`;
}

export function loadServerConfig(env: Env, mode: 'server' | 'all'): ServerConfig {
  const r = new EnvReader(env);
  // The all-in-one is for a laptop or a single host: loopback unless told otherwise.
  const defaultHost = mode === 'all' ? '127.0.0.1' : '0.0.0.0';
  const spoolMaxBytes = r.int('SPOOL_MAX_BYTES', 512 * 1024 * 1024, 1024 * 1024, Number.MAX_SAFE_INTEGER);
  const host = r.string('HOST', defaultHost);
  const dataDir = r.string('DATA_DIR', './data');
  const cfg: ServerConfig = {
    ...common(r),
    production: r.string('NODE_ENV') === 'production',
    host,
    port: r.port('PORT', 8080),
    grpcHost: r.string('GRPC_HOST', host),
    grpcPort: r.port('GRPC_PORT', 50051),
    metricsPort: r.optionalPort('METRICS_PORT'),
    metricsToken: r.secret('METRICS_TOKEN'),
    dataDir,
    publicUrl: r.url('PUBLIC_URL'),
    grpcMaxMessageBytes: r.int('GRPC_MAX_MESSAGE_BYTES', 4 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    subscriberQueue: r.int('SUBSCRIBER_QUEUE', 1000, 1, 1_000_000),
    ingestMaxInFlightSamples: r.int('INGEST_MAX_IN_FLIGHT_SAMPLES', 20_000, 100, 10_000_000),
    wsMaxBufferedBytes: r.int('WS_MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    storage: {
      influxUrl: r.url('INFLUXDB_URL'),
      influxToken: r.secret('INFLUXDB_TOKEN'),
      influxOrg: r.string('INFLUXDB_ORG', 'dockwatch'),
      influxBucket: r.string('INFLUXDB_BUCKET', 'dockwatch'),
      retentionDays: r.int('RETENTION_DAYS', 30, 1, 3650),
      breakerFailures: r.int('BREAKER_FAILURES', 5, 1, 1000),
      breakerResetMs: r.duration('BREAKER_RESET', '30s', 100),
      retryAttempts: r.int('RETRY_ATTEMPTS', 3, 1, 20),
      retryInitialMs: r.duration('RETRY_INITIAL_DELAY', '1s', 1),
      spoolMaxBytes,
      spoolMaxLagBytes: r.int('SPOOL_MAX_LAG_BYTES', Math.min(256 * 1024 * 1024, Math.floor(spoolMaxBytes / 2)), 1024 * 1024, Number.MAX_SAFE_INTEGER),
    },
    auth: {
      jwtSecret: r.secret('JWT_SECRET'),
      jwtPrivateKeyFile: r.string('JWT_PRIVATE_KEY_FILE'),
      jwtPublicKeyFile: r.string('JWT_PUBLIC_KEY_FILE'),
      jwtDurationMs: r.duration('JWT_DURATION', '24h', 60_000),
      adminUser: r.string('ADMIN_USER', 'admin'),
      adminPassword: r.secret('ADMIN_PASSWORD'),
      usersFile: r.string('USERS_FILE', `${dataDir}/users.json`),
      agentToken: r.secret('AGENT_TOKEN'),
      loginRateLimit: r.int('LOGIN_RATE_LIMIT', 5, 1, 10_000),
    },
    alerts: {
      cpuThreshold: r.number('CPU_THRESHOLD', 90, 0, 100_000),
      memoryThreshold: r.number('MEMORY_THRESHOLD', 85, 0, 100),
      rulesFile: r.string('ALERT_RULES_FILE'),
      cooldownMs: r.duration('ALERT_COOLDOWN', '5m', 0),
      watchContainers: r.list('WATCH_CONTAINERS'),
      redisUrl: redisUrl(r),
      slackWebhookUrl: r.url('SLACK_WEBHOOK_URL'),
      discordWebhookUrl: r.url('DISCORD_WEBHOOK_URL'),
      webhookUrl: r.url('WEBHOOK_URL'),
      heartbeatUrl: r.url('HEARTBEAT_URL'),
      heartbeatIntervalMs: r.duration('HEARTBEAT_INTERVAL', '60s', 1000),
      reportIntervalMs: r.duration('REPORT_INTERVAL', undefined, 1000),
      notifyLifecycle: r.bool('NOTIFY_LIFECYCLE', false),
      repeatIntervalMs: r.duration('ALERT_REPEAT_INTERVAL', '4h', 0),
      smtp: {
        host: r.string('SMTP_HOST'),
        port: r.port('SMTP_PORT', 587),
        user: r.string('SMTP_USER'),
        pass: r.secret('SMTP_PASS'),
        from: r.string('SMTP_FROM'),
        to: r.list('ALERT_EMAIL_TO'),
      },
    },
    autoheal: {
      enabled: r.bool('AUTOHEAL', true),
      maxRestarts: r.int('AUTOHEAL_MAX_RESTARTS', 3, 1, 1000),
      windowMs: r.duration('AUTOHEAL_WINDOW', '1h', 60_000),
      backoffInitialMs: r.duration('AUTOHEAL_BACKOFF', '30s', 0),
      backoffMaxMs: r.duration('AUTOHEAL_BACKOFF_MAX', '10m', 0),
      maxPerHostPerMinute: r.int('AUTOHEAL_HOST_MAX_PER_MINUTE', 5, 1, 1000),
      stableMs: r.duration('AUTOHEAL_STABLE', '10m', 0),
      restartTimeoutSec: Math.round(r.duration('AUTOHEAL_RESTART_TIMEOUT', '10s', 0) / 1000),
    },
  };
  if (cfg.alerts.repeatIntervalMs > 0 && cfg.alerts.repeatIntervalMs < 1000) {
    r.problems.push(`ALERT_REPEAT_INTERVAL=${cfg.alerts.repeatIntervalMs}ms: at least 1s, or 0 for never`);
  }
  if (cfg.autoheal.backoffMaxMs < cfg.autoheal.backoffInitialMs) {
    r.problems.push('AUTOHEAL_BACKOFF_MAX: must not be less than AUTOHEAL_BACKOFF');
  }
  if (cfg.metricsPort !== undefined && (cfg.metricsPort === cfg.port || cfg.metricsPort === cfg.grpcPort)) {
    r.problems.push(`METRICS_PORT=${cfg.metricsPort}: must differ from PORT and GRPC_PORT`);
  }
  if (cfg.storage.spoolMaxLagBytes > cfg.storage.spoolMaxBytes) {
    r.problems.push(`SPOOL_MAX_LAG_BYTES=${cfg.storage.spoolMaxLagBytes}: must not exceed SPOOL_MAX_BYTES (${cfg.storage.spoolMaxBytes})`);
  }
  if (cfg.port === cfg.grpcPort && cfg.host === cfg.grpcHost) {
    r.problems.push(`GRPC_PORT=${cfg.grpcPort}: must differ from PORT`);
  }
  if (cfg.alerts.smtp.host && cfg.alerts.smtp.to.length === 0) {
    r.problems.push('ALERT_EMAIL_TO: required when SMTP_HOST is set (comma-separated addresses)');
  }
  if (cfg.production && !cfg.auth.jwtSecret && !cfg.auth.jwtPrivateKeyFile) {
    r.problems.push('JWT_SECRET: required when NODE_ENV=production (or set JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE)');
  }
  if (Boolean(cfg.auth.jwtPrivateKeyFile) !== Boolean(cfg.auth.jwtPublicKeyFile)) {
    r.problems.push('JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE: set both for RS256, or neither');
  }
  r.done();
  return cfg;
}
