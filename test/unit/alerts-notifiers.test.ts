import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActionNotice, AlertEvent, Notification } from '../../src/application/alert-ports.js';
import { AppError } from '../../src/application/errors.js';
import { type Channel, createNotificationDispatcher, parseRetryAfter, withRetry } from '../../src/infrastructure/notifiers/delivery.js';
import { DISCORD_COLORS, discordPayload } from '../../src/infrastructure/notifiers/discord.js';
import { emailContent } from '../../src/infrastructure/notifiers/email.js';
import { summary } from '../../src/infrastructure/notifiers/format.js';
import { readNotifierSettings } from '../../src/infrastructure/notifiers/settings.js';
import { slackPayload } from '../../src/infrastructure/notifiers/slack.js';
import { webhookPayload } from '../../src/infrastructure/notifiers/webhook.js';
import { parseRedisAddress } from '../../src/infrastructure/redis/connection.js';
import { checkDiscordPayload, checkSlackPayload, checkWebhookPayload } from '../helpers/webhook-shapes.js';
import { memoryLog } from '../helpers/silent-log.js';

const alert = (p: Partial<AlertEvent> = {}): AlertEvent => ({
  id: 'cpu|h|c1|1|firing', ruleId: 'cpu', severity: 'critical', state: 'firing', host: 'h', containerId: 'c1',
  containerName: 'web', value: 97.25, threshold: 90, message: 'CPU 97.3% > 90%: container web on host h', timestampMs: 1_700_000_000_000, ...p,
});
const fmt = { publicUrl: 'https://dw.example' };
const action = (p: Partial<ActionNotice> = {}): Notification => ({ kind: 'action', action: {
  action: 'autoheal.restart', outcome: 'requested', host: 'node-1', containerId: 'c1', containerName: 'web',
  message: 'Dockwatch autoheal: restarting web on host node-1 (attempt 1 of 3, unhealthy)', timestampMs: 1_700_000_000_000, ...p } });

test('Slack payload: header/section/context blocks, fields, link, fallback text', () => {
  const long = alert({ containerName: 'x'.repeat(400), context: { exitCode: 2, logTail: Array.from({ length: 20 }, (_, i) => `line ${i} ${'y'.repeat(300)}`) } });
  for (const n of [alert(), alert({ state: 'resolved' }), long] as AlertEvent[]) {
    const p = slackPayload({ kind: 'alert', alert: n }, fmt);
    assert.deepEqual(checkSlackPayload(p), []);
  }
  const p = slackPayload({ kind: 'alert', alert: alert() }, fmt);
  const flat = JSON.stringify(p);
  for (const want of ['critical', 'web', '97.3', '90', 'https://dw.example/dashboard.html?container=c1', '*Host*\\nh']) assert.ok(flat.includes(want), want);
  assert.deepEqual(p.blocks.map((b) => b['type']), ['header', 'section', 'context']);
  assert.deepEqual(checkSlackPayload({ blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'x' } }] }).length, 2, 'the checker can fail');
});

test('Discord payload: one embed coloured by severity, valid fields', () => {
  const colors = [[alert(), DISCORD_COLORS.critical], [alert({ severity: 'warning' }), DISCORD_COLORS.warning],
    [alert({ state: 'resolved' }), DISCORD_COLORS.resolved]] as const;
  for (const [a, color] of colors) {
    const p = discordPayload({ kind: 'alert', alert: a }, fmt);
    assert.deepEqual(checkDiscordPayload(p), []);
    assert.equal(p.embeds[0]!.color, color);
  }
  const big = discordPayload({ kind: 'alert', alert: alert({ containerName: 'n'.repeat(500), message: 'm'.repeat(5000),
    context: { logTail: Array.from({ length: 20 }, () => 'z'.repeat(200)) } }) }, fmt);
  assert.deepEqual(checkDiscordPayload(big), []);
  assert.equal(big.embeds[0]!.url, 'https://dw.example/dashboard.html?container=c1');
  assert.ok(checkDiscordPayload({ embeds: [{ title: 't'.repeat(300), color: 'red' }] }).length >= 2, 'the checker can fail');
});

test('email has text and HTML bodies, escapes HTML, carries the log tail', () => {
  const c = emailContent({ kind: 'alert', alert: alert({ containerName: '<b>web</b>', context: { exitCode: 1, logTail: ['oops <x>'] } }) }, fmt);
  assert.match(c.subject, /CRITICAL.*FIRING/);
  assert.match(c.text, /Last log lines:\noops <x>/);
  assert.match(c.html, /&#60;b&#62;web/);
  assert.ok(!c.html.includes('<b>web'));
  assert.match(c.text, /Exit code: 1/);
});

test('webhook payload is versioned and typed', () => {
  const n: Notification = { kind: 'alert', alert: alert() };
  const p = webhookPayload(n, fmt);
  assert.equal(p['version'], 1);
  assert.equal(p['type'], 'alert');
  assert.deepEqual(p['alert'], alert());
  assert.equal(p['link'], 'https://dw.example/dashboard.html?container=c1');
  assert.equal(webhookPayload({ kind: 'alert', alert: alert({ containerId: 'watch:nginx' }) }, fmt)['link'], null);
  const lifecycle: Notification = { kind: 'lifecycle', event: 'start', serverId: 's', timestampMs: 1, message: 'Dockwatch server s started' };
  for (const x of [n, lifecycle, action(), action({ outcome: 'failed' })]) assert.deepEqual(checkWebhookPayload(webhookPayload(x, fmt)), [], x.kind);
  assert.ok(checkWebhookPayload({ version: 1, type: 'action', text: 'x', action: { outcome: 'maybe' } }).length >= 2, 'the checker can fail');
});

test('action notices: worded by their message, titled and coloured by outcome, valid Slack/Discord payloads', () => {
  const msg = 'Dockwatch autoheal: restarting web on host node-1 (attempt 1 of 3, unhealthy)';
  assert.equal(summary(action()), msg);
  const colors = [['requested', DISCORD_COLORS.info], ['ok', DISCORD_COLORS.resolved], ['failed', DISCORD_COLORS.critical],
    ['refused', DISCORD_COLORS.warning]] as const;
  for (const [outcome, color] of colors) {
    const n = action({ outcome });
    const s = slackPayload(n, fmt);
    assert.deepEqual(checkSlackPayload(s), [], outcome);
    assert.equal(s.text, msg);
    assert.deepEqual(s.blocks.map((b) => b['type']), ['header', 'section', 'context']);
    assert.ok(JSON.stringify(s.blocks[0]).includes(`[${outcome.toUpperCase()}] autoheal.restart: web on node-1`), outcome);
    const d = discordPayload(n, fmt);
    assert.deepEqual(checkDiscordPayload(d), [], outcome);
    assert.equal(d.embeds[0]!.color, color, outcome);
    assert.equal(d.embeds[0]!.description, msg);
    assert.match(d.embeds[0]!.title, new RegExp(`^Dockwatch \\[${outcome.toUpperCase()}\\] autoheal.restart`));
  }
  const long = action({ containerName: 'w'.repeat(400), message: 'm'.repeat(5000) });
  assert.deepEqual(checkSlackPayload(slackPayload(long, fmt)), []);
  assert.deepEqual(checkDiscordPayload(discordPayload(long, fmt)), []);

  const e = emailContent(action({ outcome: 'failed', containerName: '<b>web</b>', message: 'restart of <b>web</b> failed' }), fmt);
  assert.equal(e.subject, 'Dockwatch [FAILED] autoheal.restart: <b>web</b> on node-1');
  assert.match(e.text, /^restart of <b>web<\/b> failed\n\nAction: autoheal.restart\nOutcome: failed\nHost: node-1/);
  assert.ok(!e.html.includes('<b>web'));

  const w = webhookPayload(action(), fmt);
  assert.deepEqual(checkWebhookPayload(w), []);
  assert.equal(w['type'], 'action');
  assert.equal(w['text'], msg);
  assert.deepEqual(w['action'], { action: 'autoheal.restart', outcome: 'requested', host: 'node-1', containerId: 'c1',
    containerName: 'web', message: msg, timestampMs: 1_700_000_000_000 });
});

test('withRetry: 3 attempts, 1 s then x2, honours Retry-After, stops on permanent errors', async () => {
  const waits: number[] = [];
  const sleep = async (ms: number) => { waits.push(ms); };
  const policy = { attempts: 3, initialDelayMs: 1000, factor: 2, maxRetryAfterMs: 60_000 };
  let calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new AppError('UNAVAILABLE', 'x'); }, policy, sleep));
  assert.equal(calls, 3);
  assert.deepEqual(waits, [1000, 2000]);
  waits.length = 0; calls = 0;
  const r = await withRetry(async () => { if (++calls === 1) throw new AppError('RESOURCE_EXHAUSTED', '429', { retryAfterMs: 5000 }); return 'ok'; }, policy, sleep);
  assert.equal(r, 'ok');
  assert.deepEqual(waits, [5000]);
  waits.length = 0; calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new AppError('INVALID_ARGUMENT', '400'); }, policy, sleep));
  assert.equal(calls, 1);
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
});

test('dispatcher: channels in parallel, a failing one does not stop the others; counters; lifecycle routing', async () => {
  const got: string[] = [];
  const ok = (name: string): Channel => ({ name, send: async () => { got.push(name); } });
  const bad: Channel = { name: 'bad', send: async () => { throw new AppError('UNAVAILABLE', 'down'); } };
  const d = createNotificationDispatcher({ channels: [ok('console'), bad, ok('slack')], log: memoryLog(), sleep: async () => {} });
  await d.deliver({ kind: 'alert', alert: alert() });
  assert.deepEqual(got.sort(), ['console', 'slack']);
  assert.deepEqual(d.stats(), { sent: { console: 1, bad: 0, slack: 1 }, failed: { console: 0, bad: 1, slack: 0 } });
  got.length = 0;
  await d.deliver({ kind: 'lifecycle', event: 'start', serverId: 's', timestampMs: 1, message: 'hi' });
  assert.deepEqual(got, ['console'], 'lifecycle only on the console unless NOTIFY_LIFECYCLE');
  got.length = 0;
  await d.deliver(action());
  assert.deepEqual(got.sort(), ['console', 'slack'], 'actions go to every channel, NOTIFY_LIFECYCLE or not');
});

test('settings: defaults, channels only when configured, bad values named', () => {
  const s = readNotifierSettings({});
  assert.deepEqual([s.reportIntervalMs, s.cooldownMs, s.notifyLifecycle, s.smtp, s.slackWebhookUrl], [0, 300_000, false, undefined, undefined]);
  const full = readNotifierSettings({ SMTP_HOST: 'mx', ALERT_EMAIL_TO: 'a@x, b@x', REPORT_INTERVAL: '24h', NOTIFY_LIFECYCLE: 'true', ALERT_COOLDOWN: '1m', PUBLIC_URL: 'http://h/' });
  assert.deepEqual(full.smtp, { host: 'mx', port: 587, from: 'dockwatch@mx', to: ['a@x', 'b@x'] });
  assert.deepEqual([full.reportIntervalMs, full.cooldownMs, full.notifyLifecycle, full.publicUrl], [86_400_000, 60_000, true, 'http://h']);
  assert.throws(() => readNotifierSettings({ SLACK_WEBHOOK_URL: 'nope' }), (e: AppError) => e.field === 'SLACK_WEBHOOK_URL');
  assert.throws(() => readNotifierSettings({ REPORT_INTERVAL: 'daily' }), (e: AppError) => e.field === 'REPORT_INTERVAL');
});

test('REDIS_URL and REDIS_ADDR', () => {
  const table: [Record<string, string>, string | null][] = [
    [{}, null], [{ REDIS_ADDR: 'cache:6380' }, 'redis://cache:6380'], [{ REDIS_ADDR: 'cache' }, 'redis://cache:6379'],
    [{ REDIS_ADDR: '[::1]:7000' }, 'redis://[::1]:7000'], [{ REDIS_URL: 'redis://:pw@r:1/2', REDIS_ADDR: 'x:1' }, 'redis://:pw@r:1/2'],
  ];
  for (const [env, want] of table) assert.equal(parseRedisAddress(env), want, JSON.stringify(env));
  for (const env of [{ REDIS_ADDR: 'a:b' }, { REDIS_ADDR: 'a:70000' }, { REDIS_URL: 'http://x' }, { REDIS_URL: '::' }]) {
    assert.throws(() => parseRedisAddress(env), (e: AppError) => e.code === 'INVALID_ARGUMENT', JSON.stringify(env));
  }
});
