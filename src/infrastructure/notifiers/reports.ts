// Timers for the periodic digest (REPORT_INTERVAL), the heartbeat (HEARTBEAT_URL) and the
// start/stop announcements. Composition lives in src/application/alert-reports.ts; this file
// only schedules and sends.
import type { Heartbeat, NotificationSink } from '../../application/alert-ports.js';
import { type DigestDeps, composeHeartbeat, sendDigest } from '../../application/alert-reports.js';
import type { Logger } from '../../application/ports.js';
import { postJson } from './delivery.js';

export interface ReportSchedulerOptions {
  digest?: DigestDeps & { intervalMs: number };
  heartbeat?: {
    url: string;
    intervalMs: number;
    serverId: string;
    stats: () => { agentsConnected: number; samplesPerSecond: number; firingAlerts: number };
  };
  log: Logger;
  now?: () => number;
}

export async function sendHeartbeat(url: string, hb: Heartbeat, timeoutMs = 10_000): Promise<void> {
  await postJson(url, hb, AbortSignal.timeout(timeoutMs), 'heartbeat');
}

/** Starts the timers; the returned function stops them. Digest periods are aligned to the interval. */
export function startReportScheduler(o: ReportSchedulerOptions): () => void {
  const now = o.now ?? Date.now;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let stopped = false;

  if (o.digest) {
    const d = o.digest;
    const scheduleNext = (): void => {
      if (stopped) return;
      const t = now();
      const nextEnd = Math.floor(t / d.intervalMs) * d.intervalMs + d.intervalMs;
      const timer = setTimeout(() => {
        sendDigest(d, nextEnd, d.intervalMs)
          .catch((err: Error) => o.log.warn({ reason: err.message }, 'digest not sent'))
          .finally(scheduleNext);
      }, Math.max(0, nextEnd - t));
      timers[0] = timer;
    };
    scheduleNext();
  }
  if (o.heartbeat) {
    const h = o.heartbeat;
    const timer = setInterval(() => {
      const hb = composeHeartbeat({ serverId: h.serverId, nowMs: now(), ...h.stats() });
      sendHeartbeat(h.url, hb, Math.min(10_000, h.intervalMs)).catch((err: Error) =>
        o.log.warn({ reason: err.message }, 'heartbeat not sent'));
    }, h.intervalMs);
    timers.push(timer);
  }
  return () => {
    stopped = true;
    for (const t of timers) { clearTimeout(t); clearInterval(t); }
  };
}

export async function announceLifecycle(sink: NotificationSink, event: 'start' | 'stop', serverId: string,
  nowMs: number = Date.now()): Promise<void> {
  await sink.deliver({
    kind: 'lifecycle', event, serverId, timestampMs: nowMs,
    message: `Dockwatch server ${serverId} ${event === 'start' ? 'started' : 'is shutting down'}`,
  });
}
