// Without REDIS_URL a single replica needs neither a shared cooldown nor a stream: an
// in-process cooldown map and a publisher that hands alerts straight to the dispatcher.
import type { AlertEvent, AlertPublisher, Cooldown, NotificationSink } from '../../application/alert-ports.js';

export function createLocalCooldown(now: () => number = Date.now): Cooldown {
  const until = new Map<string, number>();
  return {
    async tryAcquire(key, ttlMs) {
      const t = now();
      if (until.size > 10_000) for (const [k, v] of until) if (v <= t) until.delete(k);
      const held = until.get(key);
      if (held !== undefined && held > t) return false;
      until.set(key, t + ttlMs);
      return true;
    },
  };
}

/** Delivers in the background so evaluation never waits for a slow channel. */
export function createLocalAlertPublisher(sink: NotificationSink): AlertPublisher & { idle(): Promise<void> } {
  const inflight = new Set<Promise<void>>();
  return {
    async publish(alert: AlertEvent) {
      const p = sink.deliver({ kind: 'alert', alert }).finally(() => inflight.delete(p));
      inflight.add(p);
    },
    async idle() { await Promise.all([...inflight]); },
  };
}
