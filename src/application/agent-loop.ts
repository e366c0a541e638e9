// The agent's main loop: collect every interval and on container events, number each
// batch, hand it to the transport.
//
// Sequence numbers start at the wall clock (ms) when the loop starts and go up by one per
// batch, so a restarted agent never reuses a number an earlier run already had acked (the
// server drops sequences at or below the highest it acked): a run that lasted T ms sent far
// fewer than T batches, so its numbers stay below the next run's starting clock.
//
// No overlap: a tick that finds the previous collection still running is skipped (counted).
// A container event triggers a collection after a short debounce, so bursts (stop = kill +
// die + stop) become one batch that carries all the events.
import type { ContainerEvent, ContainerSample, HostSample, MetricBatch } from '../domain/types.js';
import type { Logger } from './ports.js';

export interface CollectedSnapshot {
  host: HostSample | null;
  containers: ContainerSample[];
  /** False when the container runtime could not be asked (defaults to host.runtimeAvailable). */
  runtimeAvailable?: boolean;
}

export interface AgentLoopDeps {
  collect: () => Promise<CollectedSnapshot>;
  /** Starts following container events; returns the function that stops it. */
  watchEvents?: (onEvent: (e: ContainerEvent) => void) => () => void;
  send: (batch: MetricBatch) => void;
  agentId: string;
  hostname: string;
  intervalMs: number;
  clock: () => number;
  log: Logger;
  /** Delay between the first event of a burst and the collection it triggers (default 100 ms). */
  debounceMs?: number;
}

export interface AgentLoop {
  stop(): Promise<void>;
  stats(): { sent: number; skippedTicks: number; failedCollections: number; nextSequence: number };
}

export function runAgentLoop(deps: AgentLoopDeps): AgentLoop {
  const debounceMs = deps.debounceMs ?? 100;
  let sequence = Math.max(1, Math.floor(deps.clock()));
  let pendingEvents: ContainerEvent[] = [];
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let debounce: ReturnType<typeof setTimeout> | null = null;
  const stats = { sent: 0, skippedTicks: 0, failedCollections: 0 };

  const collectOnce = async (): Promise<void> => {
    const events = pendingEvents;
    pendingEvents = [];
    try {
      const snap = await deps.collect();
      // Without a reachable runtime the container list is empty for want of knowledge, not
      // because every container is gone: do not let the server drop them all.
      const complete = (snap.runtimeAvailable ?? snap.host?.runtimeAvailable) !== false;
      const batch: MetricBatch = {
        agentId: deps.agentId,
        hostname: deps.hostname,
        sequence: sequence++,
        timestampMs: deps.clock(),
        host: snap.host,
        containers: snap.containers,
        events,
        complete,
        intervalMs: deps.intervalMs,
      };
      deps.send(batch);
      stats.sent++;
    } catch (err) {
      stats.failedCollections++;
      // Keep the events for the next batch rather than losing them with this one.
      pendingEvents = events.concat(pendingEvents);
      deps.log.warn({ err }, 'collection failed');
    }
  };

  const trigger = (reason: 'tick' | 'event'): void => {
    if (stopped) return;
    if (running) {
      if (reason === 'tick') stats.skippedTicks++;
      else again = true;
      return;
    }
    running = collectOnce().finally(() => {
      running = null;
      if (again && !stopped) {
        again = false;
        trigger('event');
      }
    });
  };

  const onEvent = (e: ContainerEvent): void => {
    pendingEvents.push(e);
    if (debounce === null) {
      debounce = setTimeout(() => {
        debounce = null;
        trigger('event');
      }, debounceMs);
    }
  };

  const stopWatching = deps.watchEvents?.(onEvent);
  const timer = setInterval(() => trigger('tick'), deps.intervalMs);
  trigger('tick');

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      stopWatching?.();
      await running;
    },
    stats: () => ({ ...stats, nextSequence: sequence }),
  };
}
