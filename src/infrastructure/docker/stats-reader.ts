// Fallback UsageReader: one-shot stats through the Engine API. Costs the daemon CPU and blocks up
// to ~1 s per call on Docker 20.10 (it waits for the daemon's next collection tick), so the
// cgroup reader goes first; this one serves hosts where the agent cannot see the cgroup files.
import type { ContainerInfo, Logger, RawUsage, UsageReader } from '../../application/ports.js';
import { createEngineClient, type EngineClient } from './engine-client.js';
import { engineStatsToRawUsage, type EngineStatsJson } from '../shared/engine-stats.js';

export interface EngineStatsReaderOptions {
  /** Share the runtime's client (createDockerRuntime(...).client), or give dockerHost. */
  client?: EngineClient;
  dockerHost?: string;
  log?: Logger;
  /** Give up on one stats call after this long (default 3000 ms). */
  timeoutMs?: number;
  clock?: () => number;
}

export function createEngineStatsReader(opts: EngineStatsReaderOptions = {}): UsageReader {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const clock = opts.clock ?? Date.now;
  const client = opts.client ?? createEngineClient(opts.dockerHost);
  return {
    async read(c: ContainerInfo): Promise<RawUsage | null> {
      if (c.state !== 'running' && c.state !== 'paused') return null;
      try {
        // one-shot (API >= 1.41) skips the second sample a plain stream=false call waits ~1-2 s for.
        const s = await client.getJson<EngineStatsJson>(
          `/containers/${encodeURIComponent(c.id)}/stats?stream=false&one-shot=true`,
          { signal: AbortSignal.timeout(timeoutMs) },
        );
        return engineStatsToRawUsage(s, clock());
      } catch (err) {
        opts.log?.debug({ container: c.id, err: String(err) }, 'engine stats failed');
        return null;
      }
    },
  };
}
