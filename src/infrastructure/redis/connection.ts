// Redis connection settings and client construction (ioredis).
// Every client fails fast while Redis is down (no offline queue): callers decide what to
// do, e.g. the alert engine queues in memory and the live bus delivers locally only.
import { Redis } from 'ioredis';
import type { Logger } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';

/**
 * REDIS_URL ("redis://[:pass@]host:port[/db]", "rediss://...") wins; otherwise REDIS_ADDR
 * ("host:port", "[::1]:6379", "host" = port 6379). Returns null when neither is set.
 */
export function parseRedisAddress(env: { REDIS_URL?: string | undefined; REDIS_ADDR?: string | undefined }): string | null {
  const url = env.REDIS_URL?.trim();
  if (url) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new AppError('INVALID_ARGUMENT', 'REDIS_URL: not a URL', { field: 'REDIS_URL' });
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
      throw new AppError('INVALID_ARGUMENT', 'REDIS_URL: scheme must be redis:// or rediss://', { field: 'REDIS_URL' });
    }
    return url;
  }
  const addr = env.REDIS_ADDR?.trim();
  if (!addr) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+)(?::(\d{1,5}))?$/.exec(addr);
  const port = m?.[2] === undefined ? 6379 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new AppError('INVALID_ARGUMENT', `REDIS_ADDR: expected host:port, got "${addr}"`, { field: 'REDIS_ADDR' });
  }
  return `redis://${m[1]}:${port}`;
}

export interface RedisClientOptions {
  log?: Logger;
  /** Shown in CLIENT LIST and in log lines. */
  name?: string;
  /**
   * For a subscriber connection: the owner (re)subscribes on every 'ready'. ioredis's own
   * re-subscribe after a reconnect leaves its promise unhandled, so a disconnect or a second
   * outage before the reply crashes the process with an unhandled rejection.
   */
  subscriber?: boolean;
}

/** A client that reconnects forever (capped back-off), never queues offline and never crashes the process. */
export function createRedisClient(url: string, opts: RedisClientOptions = {}): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    autoResubscribe: opts.subscriber !== true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    ...(opts.name ? { connectionName: opts.name } : {}),
  });
  let down = false;
  client.on('error', (err: Error) => {
    // ioredis emits an error per failed attempt; log the first of each outage only.
    if (!down) opts.log?.warn({ err: err.message, client: opts.name }, 'redis unavailable');
    down = true;
  });
  client.on('ready', () => {
    if (down) opts.log?.info({ client: opts.name }, 'redis reconnected');
    down = false;
  });
  return client;
}

/** Resolves once the client is ready (or rejects after timeoutMs). */
export function waitReady(client: Redis, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { cleanup(); reject(new Error('redis not ready')); }, timeoutMs);
    const onReady = (): void => { cleanup(); resolve(); };
    const cleanup = (): void => { clearTimeout(t); client.off('ready', onReady); };
    client.on('ready', onReady);
  });
}
