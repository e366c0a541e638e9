// Use case: one collection round on the agent. Lists containers, reads each running one's
// counters through the first reader that can see it (cgroup files first, Engine API after),
// turns counters into samples against the previous round, and reads the host. Fails soft: a
// broken reader or an unreachable Docker daemon is logged once and the rest still flows.
import { toContainerSample } from '../domain/container-math.js';
import type { ContainerSample, HostSample } from '../domain/types.js';
import type { ContainerInfo, ContainerRuntime, HostCollector, Logger, RawUsage, UsageReader } from './ports.js';

export interface CollectorDeps {
  runtime: ContainerRuntime;
  /** In order of preference; the first non-null answer wins. */
  readers: UsageReader[];
  /** Absent for a remote engine: this machine's /proc is not its host (batches carry host: null). */
  host?: HostCollector;
  clock?: () => number;
  log: Logger;
  /** Containers read at once (default 16): bounds open files and the stats API's in-flight calls. */
  concurrency?: number;
}

export interface CollectResult {
  host: HostSample | null;
  containers: ContainerSample[];
  /** false when the container runtime could not be listed this round. */
  runtimeAvailable: boolean;
}

export interface Collector {
  collect(): Promise<CollectResult>;
  /** Whether the last listing succeeded (true before the first round). */
  runtimeAvailable(): boolean;
}

interface Previous {
  startedAtMs: number;
  usage: RawUsage;
}

export function createCollector(deps: CollectorDeps): Collector {
  const clock = deps.clock ?? (() => new Date().getTime());
  const concurrency = Math.max(1, deps.concurrency ?? 16);
  const previous = new Map<string, Previous>();
  const failedReaders = new Set<number>();
  let runtimeUp = true;
  let hostFailed = false;

  async function listContainers(): Promise<ContainerInfo[] | null> {
    try {
      const list = await deps.runtime.listContainers();
      if (!runtimeUp) deps.log.info('container runtime reachable again');
      runtimeUp = true;
      return list;
    } catch (err) {
      if (runtimeUp) deps.log.warn({ err: String(err) }, 'container runtime unreachable; collecting host metrics only');
      runtimeUp = false;
      return null;
    }
  }

  async function readHost(): Promise<HostSample | null> {
    if (!deps.host) return null;
    try {
      const h = await deps.host.collect();
      hostFailed = false;
      return h;
    } catch (err) {
      if (!hostFailed) deps.log.warn({ err: String(err) }, 'host metrics unavailable');
      hostFailed = true;
      return null;
    }
  }

  async function readUsage(c: ContainerInfo): Promise<RawUsage | null> {
    if (c.state !== 'running' && c.state !== 'paused') return null;
    for (let i = 0; i < deps.readers.length; i++) {
      try {
        const u = await deps.readers[i]!.read(c);
        if (u) return u;
      } catch (err) {
        if (!failedReaders.has(i)) deps.log.warn({ reader: i, err: String(err) }, 'usage reader failed; trying the next');
        failedReaders.add(i);
      }
    }
    return null;
  }

  function toSample(c: ContainerInfo, cur: RawUsage | null, now: number): ContainerSample {
    const p = previous.get(c.id);
    // Rates only between two readings of the same run from the same source.
    const prev = p && cur && p.startedAtMs === c.startedAtMs && p.usage.source === cur.source ? p.usage : undefined;
    if (cur) previous.set(c.id, { startedAtMs: c.startedAtMs, usage: cur });
    else previous.delete(c.id);
    return toContainerSample(c, prev, cur, now);
  }

  return {
    runtimeAvailable: () => runtimeUp,

    async collect(): Promise<CollectResult> {
      const [host, list] = await Promise.all([readHost(), listContainers()]);
      const containers = list ?? [];
      const usages: (RawUsage | null)[] = new Array(containers.length).fill(null);
      let next = 0;
      const worker = async () => {
        while (next < containers.length) {
          const i = next++;
          usages[i] = await readUsage(containers[i]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, containers.length) }, worker));
      const now = clock();
      const samples = containers.map((c, i) => toSample(c, usages[i] ?? null, now));
      // Forget containers that are gone, so a reused id never rates against stale counters.
      const live = new Set(containers.map((c) => c.id));
      if (list) for (const id of previous.keys()) if (!live.has(id)) previous.delete(id);
      // The host sample is ours (fresh each round): stamp what this round learnt about the runtime.
      if (host) host.runtimeAvailable = runtimeUp;
      return {
        host,
        containers: samples,
        runtimeAvailable: runtimeUp,
      };
    },
  };
}
