// Docker Engine stats JSON (GET /containers/{id}/stats, also what the ECS task metadata
// endpoint serves) -> RawUsage. Pure; shared by the docker and ECS adapters.
import type { RawUsage } from '../../application/ports.js';

interface BlkioEntry {
  op?: string;
  value?: number;
}

/** The parts of the Engine's stats JSON we read; every field may be missing. */
export interface EngineStatsJson {
  read?: string;
  pids_stats?: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: BlkioEntry[] | null };
  cpu_stats?: {
    cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** The page cache `docker stats` subtracts: v1 total_inactive_file, else v2 inactive_file. */
export function engineInactiveFile(stats: Record<string, number> | undefined): number {
  if (!stats) return 0;
  if (stats.total_inactive_file !== undefined) return num(stats.total_inactive_file);
  return num(stats.inactive_file);
}

export function engineStatsToRawUsage(
  s: EngineStatsJson,
  nowMs: number,
  source: RawUsage['source'] = 'engine-api',
): RawUsage {
  const cpu = s.cpu_stats ?? {};
  const mem = s.memory_stats ?? {};
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += num(n.rx_bytes);
    tx += num(n.tx_bytes);
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    // v1 says "Read"/"Write", v2 "read"/"write".
    const op = (e.op ?? '').toLowerCase();
    if (op === 'read') read += num(e.value);
    else if (op === 'write') write += num(e.value);
  }
  const readAt = s.read ? Date.parse(s.read) : Number.NaN;
  return {
    // Engine timestamps of stopped containers are year 1: take ours then.
    timestampMs: Number.isFinite(readAt) && readAt > 0 ? readAt : nowMs,
    cpuUsageNs: num(cpu.cpu_usage?.total_usage),
    systemCpuNs: num(cpu.system_cpu_usage),
    onlineCpus: num(cpu.online_cpus) || (cpu.cpu_usage?.percpu_usage?.length ?? 0),
    memRawUsageBytes: num(mem.usage),
    memInactiveFileBytes: engineInactiveFile(mem.stats),
    memLimitBytes: num(mem.limit),
    netRxBytes: rx,
    netTxBytes: tx,
    blkReadBytes: read,
    blkWriteBytes: write,
    pids: num(s.pids_stats?.current),
    source,
  };
}
