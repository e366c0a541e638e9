// Notifiers against a real SMTP server (aiosmtpd) and local HTTP stand-ins for Slack,
// Discord and the generic webhook that check the documented payload shapes.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AlertEvent, Notification, StoredAlert } from '../../src/application/alert-ports.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createNotificationDispatcher } from '../../src/infrastructure/notifiers/delivery.js';
import { createDiscordChannel } from '../../src/infrastructure/notifiers/discord.js';
import { createEmailChannel } from '../../src/infrastructure/notifiers/email.js';
import { announceLifecycle, startReportScheduler } from '../../src/infrastructure/notifiers/reports.js';
import { createSlackChannel } from '../../src/infrastructure/notifiers/slack.js';
import { createWebhookChannel } from '../../src/infrastructure/notifiers/webhook.js';
import { createRedisClient, waitReady } from '../../src/infrastructure/redis/connection.js';
import { createRedisCooldown } from '../../src/infrastructure/redis/cooldown.js';
import { batch, sample } from '../helpers/alert-batches.js';
import { type Receivers, type SmtpServer, startReceivers, startSmtp, waitFor } from '../helpers/alert-services.js';
import { requireEnv } from '../helpers/env.js';
import { memoryLog } from '../helpers/silent-log.js';
import { checkDiscordPayload, checkSlackPayload } from '../helpers/webhook-shapes.js';

const redisUrl = requireEnv('TEST_REDIS_URL');
requireEnv('TEST_PYTHON');
let smtp: SmtpServer;
let rx: Receivers;
before(async () => {
  smtp = await startSmtp();
  rx = await startReceivers({
    '/slack': checkSlackPayload,
    '/discord': checkDiscordPayload,
    '/hook': (b) => (typeof (b as { version?: unknown }).version === 'number' && typeof (b as { type?: unknown }).type === 'string' ? [] : ['not a webhook payload']),
  });
});
after(async () => { await smtp?.stop(); await rx?.close(); });

const fmt = { publicUrl: 'http://dockwatch.test' };
const alert: AlertEvent = {
  id: 'stopped|h1|abc|1|firing', ruleId: 'stopped', severity: 'critical', state: 'firing', host: 'h1', containerId: 'abc',
  containerName: 'api', value: 3, threshold: 0, message: 'died unexpectedly with exit code 3: container api on host h1',
  timestampMs: 1_800_000_000_000, context: { exitCode: 3, logTail: ['starting', 'fatal: config missing'] },
};

function channels(email = true) {
  const ch = [createSlackChannel({ webhookUrl: rx.url('/slack'), ...fmt }), createDiscordChannel({ webhookUrl: rx.url('/discord'), ...fmt }),
    createWebhookChannel({ url: rx.url('/hook'), ...fmt })];
  if (email) ch.push(createEmailChannel({ host: '127.0.0.1', port: smtp.port, from: 'dockwatch@test', to: ['oncall@test'], ...fmt }));
  return ch;
}

test('one alert reaches Slack, Discord, the webhook and the mailbox; 429 Retry-After and 500 are retried; a hanging channel delays nobody', async () => {
  rx.script('/slack', [{ status: 429, retryAfter: '1' }]);
  rx.script('/discord', [{ status: 500 }]);
  rx.script('/hook', [{ status: 200, hang: true }]);
  const before = { slack: rx.received('/slack').length, discord: rx.received('/discord').length, hook: rx.received('/hook').length, mail: smtp.mails().length };
  const d = createNotificationDispatcher({ channels: channels(), log: memoryLog(), timeoutMs: 2500 });
  let settled = false;
  const p = d.deliver({ kind: 'alert', alert }).finally(() => { settled = true; });

  await waitFor('slack, discord and mail', () =>
    rx.received('/slack').length === before.slack + 2 && rx.received('/discord').length === before.discord + 2 && smtp.mails().length === before.mail + 1, 20_000);
  assert.equal(settled, false, 'the webhook still hangs, yet the others are done');
  await p;

  const slack = rx.received('/slack').slice(before.slack);
  assert.deepEqual(slack.map((r) => r.status), [429, 200]);
  for (const r of slack) assert.deepEqual(r.problems, []);
  assert.match(JSON.stringify(slack[1]!.body), /fatal: config missing/);
  assert.match(JSON.stringify(slack[1]!.body), /dashboard\.html\?container=abc/);
  const discord = rx.received('/discord').slice(before.discord);
  assert.deepEqual(discord.map((r) => r.status), [500, 200]);
  assert.equal((discord[1]!.body as { embeds: { color: number }[] }).embeds[0]!.color, 0xe01e5a);
  const hook = rx.received('/hook').slice(before.hook);
  assert.equal(hook.length, 2, 'timed out once, then delivered');
  assert.deepEqual((hook[1]!.body as { alert: AlertEvent }).alert, alert);

  const mail = smtp.mails().at(-1)!;
  assert.deepEqual(mail.to, ['oncall@test']);
  assert.match(mail.subject, /CRITICAL.*FIRING stopped: api on h1/);
  assert.match(mail.contentType, /multipart\/alternative/);
  assert.match(mail.text, /Exit code: 3/);
  assert.match(mail.text, /fatal: config missing/);
  assert.match(mail.html, /<pre>starting\nfatal: config missing<\/pre>/);
  assert.deepEqual(d.stats().sent, { slack: 1, discord: 1, webhook: 1, email: 1 });
  assert.deepEqual(d.stats().failed, { slack: 0, discord: 0, webhook: 0, email: 0 });
});

test('a channel that keeps failing is tried 3 times, then counted as failed', async () => {
  rx.script('/slack', [{ status: 500 }, { status: 502 }, { status: 503 }, { status: 200 }]);
  const n0 = rx.received('/slack').length;
  const d = createNotificationDispatcher({ channels: [createSlackChannel({ webhookUrl: rx.url('/slack'), ...fmt })], log: memoryLog(),
    retry: { initialDelayMs: 50 } });
  await d.deliver({ kind: 'alert', alert });
  assert.equal(rx.received('/slack').length - n0, 3);
  assert.deepEqual(d.stats().failed, { slack: 1 });
  rx.script('/slack', []);
  // A 4xx that is not 429 is final: one attempt.
  rx.script('/slack', [{ status: 404 }]);
  const n1 = rx.received('/slack').length;
  await d.deliver({ kind: 'alert', alert });
  assert.equal(rx.received('/slack').length - n1, 1);
});

test('digest every REPORT_INTERVAL with the right counts, once per period across two replicas; heartbeat; lifecycle', async () => {
  const latest = createMemoryLatestStore();
  latest.apply(batch({ hostname: 'dg-host-1', agentId: 'dg-a1', timestampMs: Date.now(), containers: [
    sample({ id: 'd1', name: 'hot', cpuPercent: 80, memPercent: 10 }), sample({ id: 'd2', name: 'fat', cpuPercent: 5, memPercent: 70 }),
    sample({ id: 'd3', name: 'dead', state: 'exited', exitCode: 1, cpuPercent: 0, memPercent: 0 })] }));
  latest.apply(batch({ hostname: 'dg-host-2', agentId: 'dg-a2', timestampMs: Date.now(), containers: [sample({ id: 'd4', name: 'idle', cpuPercent: 1, memPercent: 1 })] }));
  const stored: StoredAlert[] = [];
  const history = { queryAlerts: async (q: { fromMs: number; toMs: number }) => {
    // Two firings and one resolution inside whatever period is asked for, one just before it.
    const mk = (t: number, state: 'firing' | 'resolved'): StoredAlert => ({ ...alert, id: `${t}${state}`, state, timestampMs: t });
    stored.push(mk(q.fromMs - 1, 'firing'), mk(q.fromMs, 'firing'), mk(q.fromMs + 10, 'firing'), mk(q.toMs - 1, 'resolved'));
    return stored.filter((a) => a.timestampMs >= q.fromMs && a.timestampMs <= q.toMs);
  } };
  const redis = createRedisClient(redisUrl);
  await waitReady(redis);
  const keyPrefix = `dwtest:alerts:${randomUUID()}:`;
  const hookSink = createNotificationDispatcher({ channels: [createWebhookChannel({ url: rx.url('/hook'), ...fmt }),
    createSlackChannel({ webhookUrl: rx.url('/slack'), ...fmt })], log: memoryLog(), notifyLifecycle: true });
  rx.script('/slack', []);
  const n0 = rx.received('/hook').length;
  const intervalMs = 1500;
  const stops = ['replica-a', 'replica-b'].map((serverId) => startReportScheduler({
    log: memoryLog(),
    digest: { serverId, latest, history, cooldown: createRedisCooldown(redis), sink: hookSink, log: memoryLog(), keyPrefix, intervalMs },
    heartbeat: { url: rx.url('/heartbeat'), intervalMs: 500, serverId, stats: () => ({ agentsConnected: 2, samplesPerSecond: 4, firingAlerts: 1 }) },
  }));
  try {
    await waitFor('two digests', () => rx.received('/hook').slice(n0).filter((r) => (r.body as { type: string }).type === 'digest').length >= 2, 15_000);
  } finally { for (const s of stops) s(); }
  const digests = rx.received('/hook').slice(n0).filter((r) => (r.body as { type: string }).type === 'digest')
    .map((r) => (r.body as { digest: { fromMs: number; toMs: number; hosts: unknown[]; containersByState: Record<string, number>;
      topCpu: { containerName: string }[]; topMemory: { containerName: string }[]; alertsFired: number; alertsResolved: number } }).digest);
  const periods = digests.map((x) => x.toMs);
  assert.equal(new Set(periods).size, periods.length, 'one digest per period, not one per replica');
  for (const x of digests) assert.equal(x.toMs - x.fromMs, intervalMs);
  const dg = digests[0]!;
  assert.equal(dg.hosts.length, 2);
  assert.deepEqual(dg.containersByState, { running: 3, exited: 1 });
  assert.equal(dg.topCpu[0]!.containerName, 'hot');
  assert.equal(dg.topMemory[0]!.containerName, 'fat');
  assert.deepEqual([dg.alertsFired, dg.alertsResolved], [2, 1]);
  const slackDigest = rx.received('/slack').find((r) => JSON.stringify(r.body).includes('Dockwatch digest'));
  assert.ok(slackDigest && slackDigest.problems.length === 0, 'the digest also reached Slack in a valid shape');

  const hb = rx.received('/heartbeat');
  assert.ok(hb.length >= 2);
  const body = hb[0]!.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['agentsConnected', 'firingAlerts', 'samplesPerSecond', 'serverId', 'timestampMs']);
  assert.deepEqual(new Set(hb.map((h) => (h.body as { serverId: string }).serverId)), new Set(['replica-a', 'replica-b']));

  const n1 = rx.received('/hook').length;
  await announceLifecycle(hookSink, 'start', 'replica-a');
  const life = rx.received('/hook').slice(n1);
  assert.equal(life.length, 1);
  assert.deepEqual((life[0]!.body as { lifecycle: { event: string } }).lifecycle.event, 'start');
  redis.disconnect();
});

test('no channel configured but the console: lifecycle and alerts still go out (as log lines)', async () => {
  const { createConsoleChannel } = await import('../../src/infrastructure/notifiers/console.js');
  const log = memoryLog();
  const d = createNotificationDispatcher({ channels: [createConsoleChannel(log)], log });
  const n: Notification = { kind: 'alert', alert };
  await d.deliver(n);
  await announceLifecycle(d, 'stop', 's1');
  assert.deepEqual(log.lines.map((l) => l.level), ['warn', 'info']);
  assert.match(String(log.lines[0]!.msg), /FIRING stopped: api on h1/);
});
