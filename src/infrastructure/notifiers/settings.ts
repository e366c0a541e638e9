// Notifier settings from the environment, and the channels they configure. A channel whose
// settings are absent is skipped. The lead's config module may call readNotifierSettings or
// build the object itself.
import { AppError } from '../../application/errors.js';
import type { Logger } from '../../application/ports.js';
import { parseDuration } from '../../domain/duration.js';
import { createConsoleChannel } from './console.js';
import type { Channel } from './delivery.js';
import { createDiscordChannel } from './discord.js';
import { createEmailChannel } from './email.js';
import { createSlackChannel } from './slack.js';
import { createWebhookChannel } from './webhook.js';

export interface NotifierSettings {
  publicUrl: string;
  slackWebhookUrl?: string;
  discordWebhookUrl?: string;
  webhookUrl?: string;
  smtp?: { host: string; port: number; user?: string; pass?: string; from: string; to: string[] };
  heartbeatUrl?: string;
  /** ms, 0 = off */
  reportIntervalMs: number;
  /** ms, default 60 s */
  heartbeatIntervalMs: number;
  notifyLifecycle: boolean;
  cooldownMs: number;
}

type Env = Record<string, string | undefined>;

const url = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  if (!v) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new AppError('INVALID_ARGUMENT', `${name}: not an http(s) URL`, { field: name });
  }
  return v;
};

const dur = (env: Env, name: string, def: number): number => {
  const v = env[name]?.trim();
  if (!v || v === 'off' || v === '0') return v ? 0 : def;
  const ms = parseDuration(v);
  if (ms === null) throw new AppError('INVALID_ARGUMENT', `${name}: not a duration ("${v}", use e.g. 30s, 5m, 24h)`, { field: name });
  return ms;
};

export function readNotifierSettings(env: Env): NotifierSettings {
  const s: NotifierSettings = {
    publicUrl: (env['PUBLIC_URL']?.trim() ?? '').replace(/\/+$/, ''),
    reportIntervalMs: dur(env, 'REPORT_INTERVAL', 0),
    heartbeatIntervalMs: dur(env, 'HEARTBEAT_INTERVAL', 60_000),
    notifyLifecycle: /^(1|true|yes|on)$/i.test(env['NOTIFY_LIFECYCLE']?.trim() ?? ''),
    cooldownMs: dur(env, 'ALERT_COOLDOWN', 5 * 60_000),
  };
  const slack = url(env, 'SLACK_WEBHOOK_URL');
  if (slack) s.slackWebhookUrl = slack;
  const discord = url(env, 'DISCORD_WEBHOOK_URL');
  if (discord) s.discordWebhookUrl = discord;
  const hook = url(env, 'WEBHOOK_URL');
  if (hook) s.webhookUrl = hook;
  const hb = url(env, 'HEARTBEAT_URL');
  if (hb) s.heartbeatUrl = hb;
  const host = env['SMTP_HOST']?.trim();
  const to = (env['ALERT_EMAIL_TO'] ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (host && to.length > 0) {
    const port = Number(env['SMTP_PORT']?.trim() || '587');
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new AppError('INVALID_ARGUMENT', 'SMTP_PORT: not a port number', { field: 'SMTP_PORT' });
    }
    const user = env['SMTP_USER']?.trim();
    s.smtp = {
      host, port, from: env['SMTP_FROM']?.trim() || `dockwatch@${host}`, to,
      ...(user ? { user, pass: env['SMTP_PASS'] ?? '' } : {}),
    };
  }
  return s;
}

export function createChannels(s: NotifierSettings, log: Logger): Channel[] {
  const fmt = { publicUrl: s.publicUrl };
  const out: Channel[] = [createConsoleChannel(log.child({ channel: 'console' }))];
  if (s.slackWebhookUrl) out.push(createSlackChannel({ webhookUrl: s.slackWebhookUrl, ...fmt }));
  if (s.discordWebhookUrl) out.push(createDiscordChannel({ webhookUrl: s.discordWebhookUrl, ...fmt }));
  if (s.smtp) out.push(createEmailChannel({ ...s.smtp, ...fmt }));
  if (s.webhookUrl) out.push(createWebhookChannel({ url: s.webhookUrl, ...fmt }));
  return out;
}
