// Alert delivery through a Redis stream with a consumer group.
//
// Publisher: XADD <stream> MAXLEN ~ <n> * n <json>, after making sure the group exists
// (XGROUP CREATE ... $ MKSTREAM, BUSYGROUP ignored). Creating the group before the first
// entry matters after Redis restarts empty: an entry added before the group would be missed
// by a group created at "$".
//
// Consumer (notifier worker): XREADGROUP ... > ; the handler delivers; XACK afterwards. So an
// entry published while no worker runs waits in the stream, and an entry a worker took but
// never acked (it died) is taken over by a live worker with XAUTOCLAIM once it has been idle
// for claimIdleMs. Delivery is at-least-once: a worker that dies between delivering and
// acking makes that one entry go out twice.
import type { Redis } from 'ioredis';
import type { AlertEvent, AlertPublisher, Notification } from '../../application/alert-ports.js';
import { AppError } from '../../application/errors.js';
import type { Logger } from '../../application/ports.js';

export const DEFAULT_ALERT_STREAM = 'dockwatch:alerts';
export const DEFAULT_ALERT_GROUP = 'notifiers';

export interface AlertStreamOptions {
  stream?: string;
  group?: string;
}

async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.call('XGROUP', 'CREATE', stream, group, '$', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

export function createAlertStreamPublisher(redis: Redis, opts: AlertStreamOptions & { maxLen?: number } = {}): AlertPublisher {
  const stream = opts.stream ?? DEFAULT_ALERT_STREAM;
  const group = opts.group ?? DEFAULT_ALERT_GROUP;
  const maxLen = opts.maxLen ?? 10_000;
  return {
    async publish(event: AlertEvent) {
      const n: Notification = { kind: 'alert', alert: event };
      try {
        await ensureGroup(redis, stream, group);
        await redis.call('XADD', stream, 'MAXLEN', '~', String(maxLen), '*', 'n', JSON.stringify(n));
      } catch (err) {
        throw new AppError('UNAVAILABLE', `redis: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}

export interface AlertStreamConsumerOptions extends AlertStreamOptions {
  /** A dedicated connection: XREADGROUP BLOCK holds it. */
  redis: Redis;
  /** Unique per worker process, e.g. the server id. */
  consumer: string;
  handler: (n: Notification) => Promise<void>;
  log: Logger;
  blockMs?: number;
  /** Pending entries idle this long belong to a dead worker and are taken over (default 60 s). */
  claimIdleMs?: number;
  count?: number;
}

export interface AlertStreamConsumer {
  stop(): Promise<void>;
  stats(): { delivered: number; reclaimed: number; errors: number };
}

type Entry = [id: string, fields: string[] | null];

/**
 * The entries of a one-stream XREADGROUP reply. RESP2 gives [[stream, entries]]; over RESP3
 * (ioredis 6's default) the map arrives flattened as [stream, entries].
 */
export function streamEntries(res: unknown): Entry[] {
  if (!Array.isArray(res) || res.length === 0) return [];
  if (Array.isArray(res[0])) return ((res[0] as unknown[])[1] as Entry[] | undefined) ?? [];
  return (res[1] as Entry[] | undefined) ?? [];
}

export function startAlertStreamConsumer(opts: AlertStreamConsumerOptions): AlertStreamConsumer {
  const stream = opts.stream ?? DEFAULT_ALERT_STREAM;
  const group = opts.group ?? DEFAULT_ALERT_GROUP;
  const blockMs = opts.blockMs ?? 2000;
  const claimIdleMs = opts.claimIdleMs ?? 60_000;
  const count = opts.count ?? 10;
  const r = opts.redis;
  let running = true;
  let groupReady = false;
  let ownPendingChecked = false;
  let lastClaim = 0;
  const s = { delivered: 0, reclaimed: 0, errors: 0 };
  let wake: (() => void) | null = null;

  const sleep = (ms: number): Promise<void> => new Promise((res) => {
    const t = setTimeout(() => { wake = null; res(); }, ms);
    wake = () => { clearTimeout(t); wake = null; res(); };
  });

  async function process(entries: Entry[]): Promise<void> {
    for (const [id, fields] of entries) {
      if (fields) {
        const i = fields.indexOf('n');
        const raw = i >= 0 ? fields[i + 1] : undefined;
        try {
          if (raw !== undefined) await opts.handler(JSON.parse(raw) as Notification);
          s.delivered++;
        } catch (err) {
          // The handler logs per channel; an unexpected throw must not wedge the stream.
          opts.log.error({ err, entry: id }, 'alert notification handler failed');
        }
      }
      await r.call('XACK', stream, group, id);
    }
  }

  async function loop(): Promise<void> {
    r.on('ready', () => { groupReady = false; ownPendingChecked = false; });
    while (running) {
      try {
        if (!groupReady) { await ensureGroup(r, stream, group); groupReady = true; }
        if (!ownPendingChecked) {
          // Entries this consumer took before a restart and never acked.
          await process(streamEntries(await r.call('XREADGROUP', 'GROUP', group, opts.consumer, 'COUNT', '100', 'STREAMS', stream, '0')));
          ownPendingChecked = true;
        }
        if (Date.now() - lastClaim >= Math.min(claimIdleMs, 10_000)) {
          lastClaim = Date.now();
          const res = (await r.call('XAUTOCLAIM', stream, group, opts.consumer, String(claimIdleMs), '0-0', 'COUNT', String(count))) as
            [string, Entry[], string[]?];
          const claimed = (res?.[1] ?? []).filter((e) => e[1] !== null);
          s.reclaimed += claimed.length;
          if (claimed.length > 0) opts.log.info({ count: claimed.length }, 'took over alert notifications of a dead worker');
          await process(claimed);
        }
        await process(streamEntries(await r.call('XREADGROUP', 'GROUP', group, opts.consumer, 'COUNT', String(count),
          'BLOCK', String(blockMs), 'STREAMS', stream, '>')));
      } catch (err) {
        if (!running) break;
        s.errors++;
        if (String((err as Error).message).includes('NOGROUP')) groupReady = false;
        await sleep(500);
      }
    }
  }

  const done = loop();
  return {
    async stop() {
      running = false;
      wake?.();
      // XREADGROUP BLOCK holds the connection; disconnecting ends it at once.
      r.disconnect();
      await done;
    },
    stats: () => ({ ...s }),
  };
}
