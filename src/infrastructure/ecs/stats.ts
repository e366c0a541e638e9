// /task/stats serves Docker's own stats JSON per container: the shared Engine conversion,
// plus Fargate's memory limit quirk.
import type { RawUsage } from '../../application/ports.js';
import { engineStatsToRawUsage, type EngineStatsJson } from '../shared/engine-stats.js';

export type DockerStatsJson = EngineStatsJson;

/** Limits this large mean "none set" (cgroup v1 PAGE_COUNTER_MAX and friends). */
const UNLIMITED = 2 ** 60;

/**
 * @param fallbackLimitBytes the task-definition limit, used when the cgroup reports none
 *   (Fargate often reports the VM's memory or an "unlimited" sentinel).
 */
export function statsToRawUsage(s: DockerStatsJson, nowMs: number, fallbackLimitBytes: number): RawUsage {
  const u = engineStatsToRawUsage(s, nowMs, 'ecs');
  const limit = u.memLimitBytes > 0 && u.memLimitBytes < UNLIMITED ? u.memLimitBytes : fallbackLimitBytes;
  return { ...u, memLimitBytes: fallbackLimitBytes > 0 && limit > fallbackLimitBytes ? fallbackLimitBytes : limit };
}
