// Latest sample per container (keyed by agent id + container id) and per host, in memory.
// A `complete` batch lists every container of its host, so containers it no longer lists are
// gone; a destroy event (or a sample whose state is "removed") drops the container at once.
// Resent batches older than what is stored never overwrite newer samples.
import type { ContainerSample, HostInfo, HostedContainerSample, MetricBatch } from '../../domain/types.js';
import type { LatestStore } from '../../application/ports.js';

export interface MemoryLatestStoreOptions {
  /** Server clock for lastSeenMs (receive time, immune to agent clock skew). */
  clock?: () => number;
  /**
   * Forget a host (and its containers) not heard from for this long, so a decommissioned
   * agent's containers do not linger in /api/containers forever. Default: never.
   */
  forgetAfterMs?: number;
}

/** The newest sample of one container; updated in place, so a steady batch stream allocates nothing here. */
interface Slot { sample: ContainerSample; mark: number }

interface HostEntry {
  info: Omit<HostInfo, 'containerCount'>;
  containers: Map<string, Slot>;
  /** Timestamp of the newest batch applied, to ignore stale resends. */
  newestBatchMs: number;
}

export function createMemoryLatestStore(opts: MemoryLatestStoreOptions = {}): LatestStore & { clear(): void } {
  const clock = opts.clock ?? Date.now;
  const hosts = new Map<string, HostEntry>();
  let marks = 0;

  const forgetSilent = (): void => {
    if (opts.forgetAfterMs === undefined) return;
    const cutoff = clock() - opts.forgetAfterMs;
    for (const [agentId, e] of hosts) if (e.info.lastSeenMs < cutoff) hosts.delete(agentId);
  };

  return {
    apply(batch: MetricBatch): void {
      let entry = hosts.get(batch.agentId);
      if (!entry) {
        entry = {
          info: { agentId: batch.agentId, hostname: batch.hostname, lastSeenMs: 0, intervalMs: batch.intervalMs, sample: null },
          containers: new Map(),
          newestBatchMs: 0,
        };
        hosts.set(batch.agentId, entry);
      }
      const stale = batch.timestampMs < entry.newestBatchMs;
      entry.info.lastSeenMs = clock();
      entry.info.hostname = batch.hostname;
      if (batch.intervalMs > 0) entry.info.intervalMs = batch.intervalMs;
      if (batch.host && !stale) entry.info.sample = batch.host;

      // Every container this batch lists gets the batch's mark; in a complete batch, the
      // containers left with an older mark are the ones that are gone.
      const mark = ++marks;
      for (const c of batch.containers) {
        const slot = entry.containers.get(c.id);
        if (c.state === 'removed') {
          if (!slot || slot.sample.timestampMs <= c.timestampMs) entry.containers.delete(c.id);
          else slot.mark = mark;
          continue;
        }
        if (!slot) entry.containers.set(c.id, { sample: c, mark });
        else {
          slot.mark = mark;
          if (slot.sample.timestampMs <= c.timestampMs) slot.sample = c;
        }
      }
      if (batch.complete && !stale) {
        for (const [id, slot] of entry.containers) if (slot.mark !== mark) entry.containers.delete(id);
      }
      for (const e of batch.events) {
        if (e.action === 'destroy') entry.containers.delete(e.containerId);
      }
      if (!stale) entry.newestBatchMs = batch.timestampMs;
    },

    containers(): HostedContainerSample[] {
      forgetSilent();
      const out: HostedContainerSample[] = [];
      for (const entry of hosts.values()) {
        const { hostname: host, agentId } = entry.info;
        for (const slot of entry.containers.values()) out.push({ ...slot.sample, host, agentId });
      }
      return out;
    },

    hosts(): HostInfo[] {
      forgetSilent();
      return [...hosts.values()].map((e) => ({ ...e.info, containerCount: e.containers.size }));
    },

    clear() { hosts.clear(); },
  };
}
