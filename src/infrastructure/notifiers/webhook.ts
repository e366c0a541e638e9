// Generic JSON webhook (WEBHOOK_URL) for n8n flows, WhatsApp gateways and the like.
// The payload is documented in docs/alert-webhook.md; keep the two in step.
import type { Notification } from '../../application/alert-ports.js';
import type { Channel } from './delivery.js';
import { postJson } from './delivery.js';
import { type FormatOptions, containerLink, summary } from './format.js';

export const WEBHOOK_PAYLOAD_VERSION = 1;

export function webhookPayload(n: Notification, o: FormatOptions): Record<string, unknown> {
  const base = { version: WEBHOOK_PAYLOAD_VERSION, type: n.kind, text: summary(n) };
  switch (n.kind) {
    case 'alert':
      return { ...base, alert: n.alert, link: containerLink(n.alert, o) };
    case 'digest':
      return { ...base, digest: n.digest };
    case 'lifecycle':
      return { ...base, lifecycle: { event: n.event, serverId: n.serverId, timestampMs: n.timestampMs, message: n.message } };
    case 'action': {
      const a = n.action;
      return { ...base, action: { action: a.action, outcome: a.outcome, host: a.host, containerId: a.containerId,
        containerName: a.containerName, message: a.message, timestampMs: a.timestampMs } };
    }
  }
}

export function createWebhookChannel(opts: { url: string } & FormatOptions): Channel {
  return {
    name: 'webhook',
    send: (n, signal) => postJson(opts.url, webhookPayload(n, opts), signal, 'webhook'),
  };
}
