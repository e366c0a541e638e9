// Retries for transient failures: only errors whose canRetry() says so, exponential backoff,
// and a server's Retry-After (AppError.retryAfterMs) wins over the computed delay.
import { isAppError } from '../../application/errors.js';

export interface RetryOptions {
  /** Retries after the first attempt (RETRY_ATTEMPTS, default 3). */
  attempts?: number;
  /** RETRY_INITIAL_DELAY, default 1 s. */
  initialDelayMs?: number;
  /** RETRY_FACTOR, default 2. */
  factor?: number;
  /** Cap on any single wait, default 30 s. */
  maxDelayMs?: number;
  /** Extra veto, e.g. "not when the circuit is open". */
  shouldRetry?: (err: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function retryDelay(attempt: number, err: unknown, o: RetryOptions = {}): number {
  const base = (o.initialDelayMs ?? 1000) * (o.factor ?? 2) ** (attempt - 1);
  const ra = isAppError(err) ? err.retryAfterMs : undefined;
  return Math.min(ra ?? base, o.maxDelayMs ?? 30_000);
}

export async function retry<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 3;
  const sleep = o.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const transient = isAppError(err) && err.canRetry() && (o.shouldRetry?.(err) ?? true);
      if (!transient || attempt > attempts) throw err;
      const delay = retryDelay(attempt, err, o);
      o.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
