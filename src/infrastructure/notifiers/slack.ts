// Slack incoming webhook with Block Kit: header, a section with fields (severity, host,
// container, value, threshold), the log tail when there is one, and a context line with the
// chart link. `text` is the fallback shown in notifications. Limits respected: header text
// 150 chars, section text 3000, at most 10 fields.
import type { ActionNotice, AlertEvent, Notification } from '../../application/alert-ports.js';
import type { Channel } from './delivery.js';
import { postJson } from './delivery.js';
import { type FormatOptions, actionFields, actionTitle, actionTone, alertFields, alertTitle, containerLink, digestLines, digestTitle, summary, truncate } from './format.js';

type Block = Record<string, unknown>;

const mrkdwn = (text: string): Block => ({ type: 'mrkdwn', text: truncate(text, 2000) });
const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: truncate(text, 150), emoji: true } });

function alertBlocks(a: AlertEvent, o: FormatOptions): Block[] {
  const icon = a.state === 'resolved' ? ':white_check_mark:' : a.severity === 'critical' ? ':red_circle:' : ':warning:';
  const blocks: Block[] = [
    header(`${a.state === 'resolved' ? '✅' : a.severity === 'critical' ? '🔴' : '⚠️'} ${alertTitle(a)}`),
    {
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(`${icon} ${a.message}`, 3000) },
      fields: alertFields(a).slice(0, 10).map(([k, v]) => mrkdwn(`*${k}*\n${v}`)),
    },
  ];
  if (a.context?.logTail?.length) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(`*Last log lines*\n\`\`\`${a.context.logTail.join('\n')}\`\`\``, 3000) } });
  }
  const link = containerLink(a, o);
  blocks.push({
    type: 'context',
    elements: [mrkdwn(`${link ? `<${link}|Open chart> · ` : ''}rule \`${a.ruleId}\` · ${new Date(a.timestampMs).toISOString()}`)],
  });
  return blocks;
}

const ACTION_ICONS = { ok: ['✅', ':white_check_mark:'], info: ['🔧', ':wrench:'], failed: ['🔴', ':red_circle:'], refused: ['⚠️', ':warning:'] } as const;

function actionBlocks(a: ActionNotice): Block[] {
  const [emoji, icon] = ACTION_ICONS[actionTone(a)];
  return [
    header(`${emoji} ${actionTitle(a)}`),
    { type: 'section', text: { type: 'mrkdwn', text: truncate(`${icon} ${a.message}`, 3000) },
      fields: actionFields(a).map(([k, v]) => mrkdwn(`*${k}*\n${v}`)) },
    { type: 'context', elements: [mrkdwn(`\`${a.action}\` · ${new Date(a.timestampMs).toISOString()}`)] },
  ];
}

export function slackPayload(n: Notification, o: FormatOptions): { text: string; blocks: Block[] } {
  const text = truncate(summary(n), 3000);
  switch (n.kind) {
    case 'alert':
      return { text, blocks: alertBlocks(n.alert, o) };
    case 'digest':
      return {
        text,
        blocks: [header(digestTitle(n.digest)), { type: 'section', text: { type: 'mrkdwn', text: truncate(digestLines(n.digest).join('\n'), 3000) } },
          { type: 'context', elements: [mrkdwn(`server ${n.digest.serverId}`)] }],
      };
    case 'lifecycle':
      return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(n.message, 3000) } },
        { type: 'context', elements: [mrkdwn(`server ${n.serverId} · ${new Date(n.timestampMs).toISOString()}`)] }] };
    case 'action':
      return { text, blocks: actionBlocks(n.action) };
  }
}

export function createSlackChannel(opts: { webhookUrl: string } & FormatOptions): Channel {
  return {
    name: 'slack',
    send: (n, signal) => postJson(opts.webhookUrl, slackPayload(n, opts), signal, 'slack'),
  };
}
