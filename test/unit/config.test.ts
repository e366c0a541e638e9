import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, redactUrl } from '../../src/config/env.js';
import { loadAgentConfig, loadServerConfig } from '../../src/config/config.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

test('agent defaults are usable with an empty environment', () => {
  const c = loadAgentConfig({});
  assert.equal(c.serverAddr, '127.0.0.1:50051');
  assert.equal(c.collectIntervalMs, 2000);
  assert.equal(c.procRoot, '/proc');
  assert.ok(c.agentId.length > 0);
  assert.equal(c.autoheal, true);
  assert.equal(loadAgentConfig({ AUTOHEAL: 'off' }).autoheal, false);
  assert.equal(loadAgentConfig({ AUTOHEAL: 'on' }).autoheal, true);
});

const badAgent: Array<[string, Record<string, string>, RegExp]> = [
  ['interval not a duration', { COLLECT_INTERVAL: 'fast' }, /^COLLECT_INTERVAL="fast": expected a duration/],
  ['interval below 1s', { COLLECT_INTERVAL: '500ms' }, /^COLLECT_INTERVAL="500ms": expected a duration of at least 1000 ms/],
  ['server address without port', { SERVER_ADDR: 'localhost' }, /^SERVER_ADDR="localhost": expected host:port/],
  ['server address port out of range', { SERVER_ADDR: 'localhost:70000' }, /^SERVER_ADDR="localhost:70000"/],
  ['queue size zero', { AGENT_QUEUE_SIZE: '0' }, /^AGENT_QUEUE_SIZE="0": expected a number from 1/],
  ['docker host scheme', { DOCKER_HOST: '/var/run/docker.sock' }, /^DOCKER_HOST=.*unix:\/\//],
  ['log level', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL="loud": expected one of fatal/],
  ['autoheal switch', { AUTOHEAL: 'maybe' }, /^AUTOHEAL="maybe": expected true or false/],
];
for (const [name, env, expected] of badAgent) {
  test(`agent rejects ${name}, naming the variable`, () => {
    const problems = problemsOf(() => loadAgentConfig(env));
    assert.equal(problems.length, 1, problems.join('; '));
    assert.match(problems[0]!, expected);
  });
}

test('server defaults: all-in-one binds loopback, server binds all interfaces', () => {
  assert.equal(loadServerConfig({}, 'all').host, '127.0.0.1');
  assert.equal(loadServerConfig({}, 'server').host, '0.0.0.0');
  const c = loadServerConfig({}, 'server');
  assert.equal(c.port, 8080);
  assert.equal(c.grpcPort, 50051);
  assert.equal(c.alerts.cooldownMs, 300_000);
  assert.equal(c.storage.retentionDays, 30);
  assert.equal(c.alerts.reportIntervalMs, undefined);
  assert.equal(c.ingestMaxInFlightSamples, 20_000);
  assert.equal(loadServerConfig({ INGEST_MAX_IN_FLIGHT_SAMPLES: '5000' }, 'server').ingestMaxInFlightSamples, 5000);
  assert.equal(c.storage.spoolMaxLagBytes, 256 * 1024 * 1024);
  // A small spool brings the default lag limit down with it (half the spool) instead of failing on a setting nobody set.
  assert.equal(loadServerConfig({ SPOOL_MAX_BYTES: '100000000' }, 'server').storage.spoolMaxLagBytes, 50_000_000);
  assert.equal(loadServerConfig({ SPOOL_MAX_LAG_BYTES: '2000000' }, 'server').storage.spoolMaxLagBytes, 2_000_000);
});

const badServer: Array<[string, Record<string, string>, RegExp]> = [
  ['port out of range', { PORT: '99999' }, /^PORT="99999": expected a number from 1 to 65535/],
  ['port not a number', { GRPC_PORT: 'abc' }, /^GRPC_PORT="abc": expected a whole number/],
  ['same port twice', { PORT: '9000', GRPC_PORT: '9000' }, /^GRPC_PORT=9000: must differ from PORT/],
  ['influx url', { INFLUXDB_URL: 'not a url' }, /^INFLUXDB_URL="not a url": expected a valid URL/],
  ['redis url scheme', { REDIS_URL: 'http://x:6379' }, /^REDIS_URL=.*expected a URL starting with redis:/],
  ['redis addr', { REDIS_ADDR: 'x' }, /^REDIS_ADDR="x": expected host:port/],
  ['cooldown', { ALERT_COOLDOWN: 'soon' }, /^ALERT_COOLDOWN="soon"/],
  ['memory threshold above 100', { MEMORY_THRESHOLD: '150' }, /^MEMORY_THRESHOLD="150"/],
  ['production without secret', { NODE_ENV: 'production' }, /^JWT_SECRET: required when NODE_ENV=production/],
  ['smtp without recipients', { SMTP_HOST: 'mail' }, /^ALERT_EMAIL_TO: required/],
  ['in-flight budget too small', { INGEST_MAX_IN_FLIGHT_SAMPLES: '10' }, /^INGEST_MAX_IN_FLIGHT_SAMPLES="10": expected a number from 100 to 10000000/],
  ['spool lag above the spool size', { SPOOL_MAX_BYTES: '2000000', SPOOL_MAX_LAG_BYTES: '3000000' }, /^SPOOL_MAX_LAG_BYTES=3000000: must not exceed SPOOL_MAX_BYTES \(2000000\)/],
  ['notify lifecycle not a boolean', { NOTIFY_LIFECYCLE: 'maybe' }, /^NOTIFY_LIFECYCLE="maybe": expected true or false/],
];
for (const [name, env, expected] of badServer) {
  test(`server rejects ${name}, naming the variable`, () => {
    const problems = problemsOf(() => loadServerConfig(env, 'server'));
    assert.ok(problems.some((p) => expected.test(p)), problems.join('; '));
  });
}

test('all problems are reported at once', () => {
  const problems = problemsOf(() => loadServerConfig({ PORT: 'x', GRPC_PORT: '0', RETENTION_DAYS: '-1' }, 'server'));
  assert.equal(problems.length, 3);
});

test('REDIS_ADDR becomes a redis URL; REDIS_URL wins', () => {
  assert.equal(loadServerConfig({ REDIS_ADDR: 'cache:6380' }, 'server').alerts.redisUrl, 'redis://cache:6380');
  assert.equal(loadServerConfig({ REDIS_ADDR: 'cache:6380', REDIS_URL: 'redis://r:1' }, 'server').alerts.redisUrl, 'redis://r:1');
});

test('secrets never appear in config error messages', () => {
  const problems = problemsOf(() => loadServerConfig({ INFLUXDB_URL: 'ftp://user:hunter2@db', JWT_SECRET: 's3cr3t', PORT: 'x' }, 'server'));
  const text = problems.join('\n');
  assert.doesNotMatch(text, /hunter2|s3cr3t/);
  assert.equal(redactUrl('redis://u:pw@h:1/?token=abc'), 'redis://u:***@h:1/?token=***');
});
