// The one place that imports opossum. The breaker opens after N consecutive failures (our
// own counter: opossum's rolling error percentage would open on a ratio, not a streak),
// probes half-open after resetTimeout, and closes on the first success. Every state change
// is logged and reported to listeners (health, metrics, tests).
import CircuitBreaker from 'opossum';
import { AppError, isAppError } from '../../application/errors.js';
import type { Logger } from '../../application/ports.js';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit (BREAKER_FAILURE_THRESHOLD, default 5). */
  failureThreshold?: number;
  /** ms before a half-open probe (BREAKER_RESET_TIMEOUT, default 30 s). */
  resetTimeoutMs?: number;
  /** ms before a call counts as failed (BREAKER_TIMEOUT, default 15 s); 0 = none. */
  timeoutMs?: number;
  name?: string;
}

export interface Breaker {
  /** Runs fn through the breaker; rejects with AppError UNAVAILABLE (openCircuit) when open. */
  fire<T>(fn: () => Promise<T>): Promise<T>;
  state(): BreakerState;
  onStateChange(listener: (state: BreakerState) => void): void;
  shutdown(): void;
}

/** Errors that prove the server answered: bad input is not an outage and must not open the circuit. */
export function countsAsFailure(err: unknown): boolean {
  if (!isAppError(err)) return true;
  return err.canRetry() || err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED' || err.code === 'INTERNAL';
}

export const isOpenCircuit = (err: unknown): boolean => isAppError(err) && err.message.startsWith('circuit open');

export function withBreaker(opts: BreakerOptions = {}, log?: Logger): Breaker {
  const threshold = opts.failureThreshold ?? 5;
  const name = opts.name ?? 'store';
  const cb = new CircuitBreaker(async (fn: () => Promise<unknown>) => fn(), {
    name,
    resetTimeout: opts.resetTimeoutMs ?? 30_000,
    timeout: opts.timeoutMs === 0 ? false : opts.timeoutMs ?? 15_000,
    // Opening is decided by the consecutive-failure counter below.
    volumeThreshold: Number.MAX_SAFE_INTEGER,
    errorThresholdPercentage: 100,
    errorFilter: (err: unknown) => !countsAsFailure(err),
  });
  let consecutive = 0;
  let current: BreakerState = 'closed';
  const listeners: Array<(s: BreakerState) => void> = [];
  const change = (s: BreakerState): void => {
    if (s === current) return;
    const from = current;
    current = s;
    log?.warn({ breaker: name, from, to: s }, `circuit breaker ${name}: ${from} -> ${s}`);
    for (const l of listeners) l(s);
  };
  cb.on('open', () => change('open'));
  cb.on('halfOpen', () => change('halfOpen'));
  cb.on('close', () => { consecutive = 0; change('closed'); });
  cb.on('success', () => { consecutive = 0; });
  cb.on('failure', () => {
    consecutive++;
    if (consecutive >= threshold && cb.closed) cb.open();
  });

  return {
    async fire<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await (cb.fire(fn) as Promise<T>);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EOPENBREAKER') throw new AppError('UNAVAILABLE', `circuit open (${name})`, { cause: err });
        if (code === 'ETIMEDOUT') throw new AppError('UNAVAILABLE', `${name}: timed out`, { cause: err });
        throw err;
      }
    },
    state: () => current,
    onStateChange: (l) => { listeners.push(l); },
    shutdown: () => cb.shutdown(),
  };
}
