// Live metrics bus across replicas over Redis pub/sub.
//
// Choice: deliver locally, tag with the replica id, skip our own echo. publish() hands the
// batch to the in-process bus at once (so the live dashboard of this replica keeps working
// while Redis is down) and PUBLISHes {r: replicaId, b: batch} to the channel; batches that
// come back from Redis with another replica's id are handed to the local bus too, ours are
// dropped. Each subscriber therefore sees every batch once, from agents on any replica.
// Redis being down costs only the cross-replica part; publish never throws for it.
import type { Redis } from 'ioredis';
import type { MetricBatch } from '../../domain/types.js';
import type { Logger, MetricsBus, Subscription } from '../../application/ports.js';

export interface RedisMetricsBusOptions {
  /** Normal connection used for PUBLISH. */
  pub: Redis;
  /** Dedicated connection, made with createRedisClient(url, { subscriber: true }): it enters subscriber mode. */
  sub: Redis;
  /** In-process fan-out (src/infrastructure/memory createMemoryBus) the subscribers hang on. */
  local: MetricsBus;
  replicaId: string;
  channel?: string;
  log: Logger;
}

export interface RedisMetricsBus extends MetricsBus {
  /** Both connections up: batches of other replicas are arriving. */
  connected(): boolean;
  stats(): { published: number; received: number; publishFailed: number; skippedOwn: number };
  /** Disconnects the subscriber connection; `pub` may be shared, so its owner closes it. */
  close(): Promise<void>;
}

export const DEFAULT_METRICS_CHANNEL = 'dockwatch:metrics';

export function createRedisMetricsBus(opts: RedisMetricsBusOptions): RedisMetricsBus {
  const channel = opts.channel ?? DEFAULT_METRICS_CHANNEL;
  const s = { published: 0, received: 0, publishFailed: 0, skippedOwn: 0 };
  let warned = false;

  opts.sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      const m = JSON.parse(message) as { r: string; b: MetricBatch };
      if (m.r === opts.replicaId) { s.skippedOwn++; return; }
      s.received++;
      void opts.local.publish(m.b);
    } catch (err) {
      opts.log.warn({ err }, 'bad message on the metrics channel');
    }
  });
  // On every (re)connect: `sub` is made with { subscriber: true }, so ioredis does not resubscribe itself.
  const subscribeOnce = (): void => {
    opts.sub.subscribe(channel).catch(() => { /* retried on 'ready' */ });
  };
  subscribeOnce();
  opts.sub.on('ready', subscribeOnce);

  return {
    publish(batch: MetricBatch) {
      void opts.local.publish(batch);
      return opts.pub.publish(channel, JSON.stringify({ r: opts.replicaId, b: batch })).then(
        () => { s.published++; warned = false; },
        (err: Error) => {
          s.publishFailed++;
          if (!warned) opts.log.warn({ err: err.message }, 'redis metrics publish failed; live view stays local');
          warned = true;
        },
      );
    },
    subscribe(handler: (batch: MetricBatch) => void): Subscription {
      return opts.local.subscribe(handler);
    },
    connected: () => opts.pub.status === 'ready' && opts.sub.status === 'ready',
    stats: () => ({ ...s }),
    async close() {
      opts.sub.off('ready', subscribeOnce);
      opts.sub.disconnect();
    },
  };
}
