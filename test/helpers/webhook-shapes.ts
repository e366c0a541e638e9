// Checks of the documented webhook payload formats, used by the Slack/Discord stand-ins.
// Slack: https://api.slack.com/reference/block-kit/blocks ; Discord: https://discord.com/developers/docs/resources/webhook
// Each returns a list of problems (empty = valid).

const isStr = (v: unknown): v is string => typeof v === 'string';

function slackText(o: unknown, where: string, max: number, types: string[], p: string[]): void {
  const t = o as { type?: unknown; text?: unknown };
  if (!t || typeof t !== 'object') { p.push(`${where}: text object missing`); return; }
  if (!isStr(t.type) || !types.includes(t.type)) p.push(`${where}.type must be one of ${types.join('/')}`);
  if (!isStr(t.text) || t.text.length === 0) p.push(`${where}.text must be a non-empty string`);
  else if (t.text.length > max) p.push(`${where}.text longer than ${max}`);
}

export function checkSlackPayload(body: unknown): string[] {
  const p: string[] = [];
  const b = body as { text?: unknown; blocks?: unknown };
  if (!b || typeof b !== 'object') return ['body is not an object'];
  if (!isStr(b.text) || b.text.length === 0) p.push('text fallback missing');
  if (!Array.isArray(b.blocks) || b.blocks.length === 0) return [...p, 'blocks must be a non-empty array'];
  if (b.blocks.length > 50) p.push('more than 50 blocks');
  b.blocks.forEach((blk: Record<string, unknown>, i: number) => {
    const w = `blocks[${i}]`;
    switch (blk['type']) {
      case 'header': slackText(blk['text'], `${w}.text`, 150, ['plain_text'], p); break;
      case 'section': {
        if (blk['text'] === undefined && blk['fields'] === undefined) p.push(`${w}: section needs text or fields`);
        if (blk['text'] !== undefined) slackText(blk['text'], `${w}.text`, 3000, ['plain_text', 'mrkdwn'], p);
        if (blk['fields'] !== undefined) {
          const f = blk['fields'];
          if (!Array.isArray(f) || f.length > 10) p.push(`${w}.fields must be an array of at most 10`);
          else f.forEach((x, j) => slackText(x, `${w}.fields[${j}]`, 2000, ['plain_text', 'mrkdwn'], p));
        }
        break;
      }
      case 'context': {
        const els = blk['elements'];
        if (!Array.isArray(els) || els.length === 0 || els.length > 10) p.push(`${w}.elements must have 1-10 items`);
        else els.forEach((x, j) => slackText(x, `${w}.elements[${j}]`, 3000, ['plain_text', 'mrkdwn'], p));
        break;
      }
      case 'divider': break;
      default: p.push(`${w}: unexpected block type ${String(blk['type'])}`);
    }
  });
  return p;
}

export function checkDiscordPayload(body: unknown): string[] {
  const p: string[] = [];
  const b = body as { content?: unknown; embeds?: unknown };
  if (!b || typeof b !== 'object') return ['body is not an object'];
  if (!Array.isArray(b.embeds) || b.embeds.length === 0) {
    if (!isStr(b.content) || b.content.length === 0) p.push('needs content or embeds');
    return p;
  }
  if (b.embeds.length > 10) p.push('more than 10 embeds');
  let total = 0;
  b.embeds.forEach((e: Record<string, unknown>, i: number) => {
    const w = `embeds[${i}]`;
    if (e['title'] !== undefined) { if (!isStr(e['title']) || e['title'].length > 256) p.push(`${w}.title must be a string of at most 256`); else total += e['title'].length; }
    if (e['description'] !== undefined) { if (!isStr(e['description']) || e['description'].length > 4096) p.push(`${w}.description at most 4096`); else total += e['description'].length; }
    if (e['color'] !== undefined && (!Number.isInteger(e['color']) || (e['color'] as number) < 0 || (e['color'] as number) > 0xffffff)) p.push(`${w}.color must be an integer 0..0xffffff`);
    if (e['timestamp'] !== undefined && (!isStr(e['timestamp']) || Number.isNaN(Date.parse(e['timestamp'])))) p.push(`${w}.timestamp must be ISO8601`);
    if (e['url'] !== undefined && (!isStr(e['url']) || !/^https?:\/\//.test(e['url']))) p.push(`${w}.url must be a URL`);
    const fields = e['fields'];
    if (fields !== undefined) {
      if (!Array.isArray(fields) || fields.length > 25) p.push(`${w}.fields must be an array of at most 25`);
      else fields.forEach((f: Record<string, unknown>, j: number) => {
        if (!isStr(f['name']) || f['name'].length === 0 || f['name'].length > 256) p.push(`${w}.fields[${j}].name must be a string of 1-256`);
        if (!isStr(f['value']) || f['value'].length === 0 || f['value'].length > 1024) p.push(`${w}.fields[${j}].value must be a string of 1-1024`);
        if (f['inline'] !== undefined && typeof f['inline'] !== 'boolean') p.push(`${w}.fields[${j}].inline must be boolean`);
        total += String(f['name'] ?? '').length + String(f['value'] ?? '').length;
      });
    }
    const footer = e['footer'] as { text?: unknown } | undefined;
    if (footer !== undefined) { if (!isStr(footer.text) || footer.text.length > 2048) p.push(`${w}.footer.text at most 2048`); else total += footer.text.length; }
  });
  if (total > 6000) p.push('embeds exceed 6000 characters in total');
  return p;
}

/** The generic webhook document as docs/alert-webhook.md describes it: version, type, text and the object named by type. */
export function checkWebhookPayload(body: unknown): string[] {
  const p: string[] = [];
  const b = body as Record<string, unknown>;
  if (!b || typeof b !== 'object') return ['body is not an object'];
  if (b['version'] !== 1) p.push('version must be 1');
  if (!isStr(b['text']) || b['text'].length === 0) p.push('text must be a non-empty string');
  const type = b['type'];
  if (!isStr(type) || !['alert', 'digest', 'lifecycle', 'action'].includes(type)) return [...p, `unexpected type ${String(type)}`];
  const obj = b[type] as Record<string, unknown> | undefined;
  if (!obj || typeof obj !== 'object') return [...p, `${type} object missing`];
  const want: Record<string, [string, 'string' | 'number'][]> = {
    alert: [['id', 'string'], ['ruleId', 'string'], ['severity', 'string'], ['state', 'string'], ['host', 'string'], ['containerId', 'string'],
      ['containerName', 'string'], ['value', 'number'], ['threshold', 'number'], ['message', 'string'], ['timestampMs', 'number']],
    digest: [['serverId', 'string'], ['fromMs', 'number'], ['toMs', 'number'], ['alertsFired', 'number'], ['alertsResolved', 'number']],
    lifecycle: [['event', 'string'], ['serverId', 'string'], ['timestampMs', 'number'], ['message', 'string']],
    action: [['action', 'string'], ['outcome', 'string'], ['host', 'string'], ['containerId', 'string'], ['containerName', 'string'],
      ['message', 'string'], ['timestampMs', 'number']],
  };
  for (const [k, t] of want[type]!) if (typeof obj[k] !== t) p.push(`${type}.${k} must be a ${t}`);
  if (type === 'alert' && !('link' in b)) p.push('link missing (null when there is none)');
  if (type === 'action' && !['requested', 'ok', 'failed', 'refused'].includes(String(obj['outcome']))) p.push('action.outcome must be requested/ok/failed/refused');
  return p;
}
