// The agent's container runtime on ECS (Fargate has no Docker socket): everything comes from the
// task metadata endpoint v4. Chosen by the composition root when ECS_CONTAINER_METADATA_URI_V4 is set.
import type { ContainerInfo, ContainerRuntime, Logger, RawUsage, UsageReader } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import type { ContainerEvent } from '../../domain/types.js';
import {
  diffSnapshots, isInternal, metadataMemLimitBytes, toContainerInfo, type Seen,
  type EcsTaskMetadata,
} from './task-metadata.js';
import { statsToRawUsage, type DockerStatsJson } from './stats.js';

export interface EcsRuntimeOptions {
  /** $ECS_CONTAINER_METADATA_URI_V4 */
  metadataUri: string;
  log: Logger;
  fetch?: typeof fetch;
  /** How often watchEvents polls /task (ECS has no event stream). Default 2000 ms. */
  eventPollMs?: number;
  /** Per-request timeout. Default 3000 ms. */
  timeoutMs?: number;
  now?: () => number;
}

/** One /task/stats fetch serves every container of one collection round. */
const STATS_REUSE_MS = 500;

export function createEcsRuntime(opts: EcsRuntimeOptions): { runtime: ContainerRuntime; usage: UsageReader } {
  const base = opts.metadataUri.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ adapter: 'ecs' });

  async function getJson<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await doFetch(base + path, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      throw new AppError('UNAVAILABLE', `ECS task metadata endpoint unreachable (${path})`, { cause: e });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new AppError('UNAVAILABLE', `ECS task metadata endpoint answered ${res.status} for ${path}`);
    }
    return (await res.json()) as T;
  }

  let lastTask: EcsTaskMetadata = {};
  async function task(): Promise<EcsTaskMetadata> {
    lastTask = await getJson<EcsTaskMetadata>('/task');
    return lastTask;
  }

  let statsCache: { at: number; data: Promise<Record<string, DockerStatsJson | null>> } | undefined;
  function taskStats(): Promise<Record<string, DockerStatsJson | null>> {
    const t = now();
    if (!statsCache || t - statsCache.at > STATS_REUSE_MS) {
      const data = getJson<Record<string, DockerStatsJson | null>>('/task/stats');
      statsCache = { at: t, data };
      data.catch(() => { statsCache = undefined; });
    }
    return statsCache.data;
  }

  const listContainers = async (): Promise<ContainerInfo[]> =>
    (await task()).Containers?.filter((c) => !isInternal(c)).map(toContainerInfo) ?? [];

  const runtime: ContainerRuntime = {
    listContainers,
    watchEvents(onEvent: (event: ContainerEvent) => void): () => void {
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let seen: Map<string, Seen> | undefined;
      let failing = false;
      const poll = async (): Promise<void> => {
        try {
          const list = await listContainers();
          if (failing) log.info('ECS task metadata endpoint reachable again');
          failing = false;
          const { events, next } = diffSnapshots(seen ?? new Map(), list, now());
          // The first snapshot is the baseline: containers already running are not "started" now.
          if (seen) for (const e of events) onEvent(e);
          seen = next;
        } catch (e) {
          if (!failing) log.warn({ err: (e as Error).message }, 'ECS task metadata poll failed; retrying');
          failing = true;
        }
        if (!stopped) timer = setTimeout(() => void poll(), opts.eventPollMs ?? 2000);
      };
      void poll();
      return () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      };
    },
  };

  const usage: UsageReader = {
    async read(container: ContainerInfo): Promise<RawUsage | null> {
      const all = await taskStats();
      const s = all[container.id];
      if (!s || typeof s !== 'object') return null;
      const meta = lastTask.Containers?.find((c) => c.DockerId === container.id);
      return statsToRawUsage(s, now(), metadataMemLimitBytes(lastTask, meta));
    },
  };

  return { runtime, usage };
}
