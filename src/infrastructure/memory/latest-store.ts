// Latest sample per container (keyed by agent id + container id) and per host, in memory.
// A `complete` batch lists every container of its host, so containers it no longer lists are
// gone; a destroy event (or a sample whose state is "removed") drops the container at once.
// Resent batches older than what is stored never overwrite newer samples.
import type { HostInfo, HostedContainerSample, MetricBatch } from '../../domain/types.js';
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

interface HostEntry {
  info: Omit<HostInfo, 'containerCount'>;
  containers: Map<string, HostedContainerSample>;
  /** Timestamp of the newest batch applied, to ignore stale resends. */
  newestBatchMs: number;
}

export function createMemoryLatestStore(opts: MemoryLatestStoreOptions = {}): LatestStore & { clear(): void } {
  const clock = opts.clock ?? Date.now;
  const hosts = new Map<string, HostEntry>();

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

      for (const c of batch.containers) {
        const prev = entry.containers.get(c.id);
        if (prev && prev.timestampMs > c.timestampMs) continue;
        if (c.state === 'removed') {
          entry.containers.delete(c.id);
          continue;
        }
        entry.containers.set(c.id, { ...c, host: batch.hostname, agentId: batch.agentId });
      }
      if (batch.complete && !stale) {
        const listed = new Set(batch.containers.map((c) => c.id));
        for (const id of entry.containers.keys()) if (!listed.has(id)) entry.containers.delete(id);
      }
      for (const e of batch.events) {
        if (e.action === 'destroy') entry.containers.delete(e.containerId);
      }
      if (!stale) entry.newestBatchMs = batch.timestampMs;
    },

    containers(): HostedContainerSample[] {
      forgetSilent();
      const out: HostedContainerSample[] = [];
      for (const entry of hosts.values()) out.push(...entry.containers.values());
      return out;
    },

    hosts(): HostInfo[] {
      forgetSilent();
      return [...hosts.values()].map((e) => ({ ...e.info, containerCount: e.containers.size }));
    },

    clear() { hosts.clear(); },
  };
}
