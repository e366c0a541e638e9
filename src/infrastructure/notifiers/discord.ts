// Discord webhook with one embed, coloured by severity (critical red, warning amber,
// resolved green, info blue); actions by outcome (ok green, requested blue, failed red, refused amber). Limits respected: title 256, description 4096, at most 25
// fields with name 256 / value 1024, footer 2048, 6000 characters per message.
import type { Notification } from '../../application/alert-ports.js';
import type { Channel } from './delivery.js';
import { postJson } from './delivery.js';
import { type FormatOptions, actionFields, actionTitle, actionTone, alertFields, alertTitle, containerLink, digestLines, digestTitle, truncate } from './format.js';

export const DISCORD_COLORS = { critical: 0xe01e5a, warning: 0xecb22e, resolved: 0x2eb67d, info: 0x36c5f0 } as const;

interface Embed {
  title: string;
  description: string;
  color: number;
  fields: { name: string; value: string; inline: boolean }[];
  timestamp: string;
  url?: string;
  footer?: { text: string };
}

const field = (name: string, value: string, inline = true): Embed['fields'][number] =>
  ({ name: truncate(name, 256), value: truncate(value || '-', 1024), inline });

export function discordPayload(n: Notification, o: FormatOptions): { username: string; embeds: Embed[] } {
  let embed: Embed;
  switch (n.kind) {
    case 'alert': {
      const a = n.alert;
      const link = containerLink(a, o);
      const fields = alertFields(a).map(([k, v]) => field(k, v));
      if (a.context?.logTail?.length) fields.push(field('Last log lines', `\`\`\`\n${truncate(a.context.logTail.join('\n'), 1000 - 8)}\n\`\`\``, false));
      embed = {
        title: truncate(alertTitle(a), 256),
        description: truncate(a.message, 4096),
        color: a.state === 'resolved' ? DISCORD_COLORS.resolved : a.severity === 'critical' ? DISCORD_COLORS.critical : DISCORD_COLORS.warning,
        fields: fields.slice(0, 25),
        timestamp: new Date(a.timestampMs).toISOString(),
        ...(link ? { url: link } : {}),
        footer: { text: `rule ${a.ruleId}` },
      };
      break;
    }
    case 'digest':
      embed = {
        title: truncate(digestTitle(n.digest), 256), description: truncate(digestLines(n.digest).join('\n'), 4096),
        color: DISCORD_COLORS.info, fields: [], timestamp: new Date(n.digest.toMs).toISOString(),
        footer: { text: `server ${n.digest.serverId}` },
      };
      break;
    case 'lifecycle':
      embed = {
        title: truncate(`Dockwatch ${n.event}`, 256), description: truncate(n.message, 4096), color: DISCORD_COLORS.info,
        fields: [], timestamp: new Date(n.timestampMs).toISOString(), footer: { text: `server ${n.serverId}` },
      };
      break;
    case 'action': {
      const a = n.action;
      const tone = actionTone(a);
      embed = {
        title: truncate(`Dockwatch ${actionTitle(a)}`, 256), description: truncate(a.message, 4096),
        color: tone === 'ok' ? DISCORD_COLORS.resolved : tone === 'failed' ? DISCORD_COLORS.critical
          : tone === 'refused' ? DISCORD_COLORS.warning : DISCORD_COLORS.info,
        fields: actionFields(a).map(([k, v]) => field(k, v)), timestamp: new Date(a.timestampMs).toISOString(),
        footer: { text: a.action },
      };
      break;
    }
  }
  return { username: 'Dockwatch', embeds: [embed] };
}

export function createDiscordChannel(opts: { webhookUrl: string } & FormatOptions): Channel {
  return {
    name: 'discord',
    send: (n, signal) => postJson(opts.webhookUrl, discordPayload(n, opts), signal, 'discord'),
  };
}
