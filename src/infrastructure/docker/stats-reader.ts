// Fallback UsageReader: one-shot stats through the Engine API. Costs the daemon CPU and blocks up
// to ~1 s per call on Docker 20.10 (it waits for the daemon's next collection tick), so the
// cgroup reader goes first; this one serves hosts where the agent cannot see the cgroup files.
import Docker from 'dockerode';
import type { ContainerInfo, Logger, RawUsage, UsageReader } from '../../application/ports.js';
import { engineStatsToRawUsage, type EngineStatsJson } from './engine-stats.js';
import { dockerOptions } from './runtime.js';

export interface EngineStatsReaderOptions {
  /** Share the runtime's client (createDockerRuntime(...).docker), or give dockerHost. */
  docker?: Docker;
  dockerHost?: string;
  log?: Logger;
  /** Give up on one stats call after this long (default 3000 ms). */
  timeoutMs?: number;
  clock?: () => number;
}

export function createEngineStatsReader(opts: EngineStatsReaderOptions): UsageReader {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const clock = opts.clock ?? Date.now;
  const docker = opts.docker ?? new Docker(dockerOptions(opts.dockerHost));
  return {
    async read(c: ContainerInfo): Promise<RawUsage | null> {
      if (c.state !== 'running' && c.state !== 'paused') return null;
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), timeoutMs);
      try {
        // one-shot (API >= 1.41) skips the second sample a plain stream=false call waits ~1-2 s for.
        const s = (await docker.getContainer(c.id).stats({
          stream: false, 'one-shot': true, abortSignal: ac.signal,
        } as { stream: false; 'one-shot': boolean })) as unknown as EngineStatsJson;
        return engineStatsToRawUsage(s, clock());
      } catch (err) {
        opts.log?.debug({ container: c.id, err: String(err) }, 'engine stats failed');
        return null;
      } finally {
        clearTimeout(t);
      }
    },
  };
}
