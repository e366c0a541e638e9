// Delivery to every configured channel: in parallel, each attempt with its own timeout, each
// channel with its own retries (3 attempts, 1 s then x2; an HTTP 429 waits for Retry-After),
// so a slow or broken channel never delays the others. Failures are logged and counted.
import type { Notification, NotificationSink } from '../../application/alert-ports.js';
import { AppError, isAppError } from '../../application/errors.js';
import type { Logger } from '../../application/ports.js';

export interface Channel {
  readonly name: string;
  /** Throws AppError: UNAVAILABLE / RESOURCE_EXHAUSTED (retried, retryAfterMs honoured) or anything else (not retried). */
  send(n: Notification, signal: AbortSignal): Promise<void>;
}

export interface RetryPolicy {
  attempts: number;
  initialDelayMs: number;
  factor: number;
  /** Upper bound for a Retry-After wait. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, initialDelayMs: 1000, factor: 2, maxRetryAfterMs: 60_000 };

export interface DispatcherOptions {
  channels: Channel[];
  log: Logger;
  /** NOTIFY_LIFECYCLE: announce start/stop on every channel, not only the console. */
  notifyLifecycle?: boolean;
  retry?: Partial<RetryPolicy>;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Hook for the Prometheus counters. */
  onResult?: (channel: string, ok: boolean) => void;
}

export interface DeliveryStats {
  sent: Record<string, number>;
  failed: Record<string, number>;
}

export interface NotificationDispatcher extends NotificationSink {
  channels(): string[];
  stats(): DeliveryStats;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy,
  sleep: (ms: number) => Promise<void> = defaultSleep): Promise<T> {
  let delay = policy.initialDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = isAppError(err) && err.canRetry();
      if (!retryable || attempt >= policy.attempts) throw err;
      const wait = err.retryAfterMs !== undefined ? Math.min(Math.max(err.retryAfterMs, delay), policy.maxRetryAfterMs) : delay;
      await sleep(wait);
      delay *= policy.factor;
    }
  }
}

export function createNotificationDispatcher(opts: DispatcherOptions): NotificationDispatcher {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const sleep = opts.sleep ?? defaultSleep;
  const st: DeliveryStats = { sent: {}, failed: {} };
  for (const c of opts.channels) { st.sent[c.name] = 0; st.failed[c.name] = 0; }

  async function one(ch: Channel, n: Notification): Promise<void> {
    try {
      await withRetry(async () => {
        try {
          await ch.send(n, AbortSignal.timeout(timeoutMs));
        } catch (err) {
          if (isAppError(err)) throw err;
          // Timeouts and network errors are worth another try.
          throw new AppError('UNAVAILABLE', (err as Error).message, { cause: err });
        }
      }, policy, sleep);
      st.sent[ch.name] = (st.sent[ch.name] ?? 0) + 1;
      opts.onResult?.(ch.name, true);
    } catch (err) {
      st.failed[ch.name] = (st.failed[ch.name] ?? 0) + 1;
      opts.onResult?.(ch.name, false);
      opts.log.error({ channel: ch.name, kind: n.kind, reason: (err as Error).message }, 'notification delivery failed');
    }
  }

  return {
    async deliver(n) {
      // Only lifecycle notices are held back; alerts, digests and actions (autoheal) go everywhere.
      const targets = n.kind === 'lifecycle' && !opts.notifyLifecycle
        ? opts.channels.filter((c) => c.name === 'console') : opts.channels;
      await Promise.all(targets.map((c) => one(c, n)));
    },
    channels: () => opts.channels.map((c) => c.name),
    stats: () => ({ sent: { ...st.sent }, failed: { ...st.failed } }),
  };
}

/** Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | null, nowMs = Date.now()): number | undefined {
  if (!v) return undefined;
  const s = Number(v.trim());
  if (Number.isFinite(s) && s >= 0) return Math.round(s * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}

/** POST JSON with global fetch; maps the answer to the retry classes above. Secrets (URLs) never reach messages. */
export async function postJson(url: string, body: unknown, signal: AbortSignal, what: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  } catch (err) {
    throw new AppError('UNAVAILABLE', `${what}: ${(err as Error).name === 'TimeoutError' ? 'timed out' : 'unreachable'}`, { cause: err });
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return;
  const detail = `${what}: HTTP ${res.status}${text ? ` ${text.slice(0, 200)}` : ''}`;
  if (res.status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    throw new AppError('RESOURCE_EXHAUSTED', detail, retryAfterMs === undefined ? {} : { retryAfterMs });
  }
  if (res.status >= 500 || res.status === 408) throw new AppError('UNAVAILABLE', detail);
  throw new AppError('INVALID_ARGUMENT', detail);
}
