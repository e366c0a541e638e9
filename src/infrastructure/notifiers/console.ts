// Console channel: one structured log line per notification.
import type { Notification } from '../../application/alert-ports.js';
import type { Logger } from '../../application/ports.js';
import type { Channel } from './delivery.js';
import { summary } from './format.js';

export function createConsoleChannel(log: Logger): Channel {
  return {
    name: 'console',
    async send(n: Notification) {
      const fields = n.kind === 'alert' ? { notification: 'alert', alert: n.alert }
        : n.kind === 'digest' ? { notification: 'digest', digest: n.digest }
          : n.kind === 'action' ? { notification: 'action', action: n.action }
            : { notification: 'lifecycle', event: n.event, serverId: n.serverId };
      if ((n.kind === 'alert' && n.alert.state === 'firing') || (n.kind === 'action' && (n.action.outcome === 'failed' || n.action.outcome === 'refused'))) {
        log.warn(fields, summary(n));
      } else log.info(fields, summary(n));
    },
  };
}
