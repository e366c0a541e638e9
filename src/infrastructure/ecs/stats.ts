// Docker Engine stats JSON (what /task/stats serves per container) -> RawUsage.
// A deliberate small copy of the docker adapter's conversion: adapters do not import each
// other. If that one moves to src/infrastructure/shared/, this file can go.
import type { RawUsage } from '../../application/ports.js';

interface BlkioEntry { op?: string; value?: number }

export interface DockerStatsJson {
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

/** Limits this large mean "none set" (cgroup v1 PAGE_COUNTER_MAX and friends). */
const UNLIMITED = 2 ** 60;

/**
 * @param fallbackLimitBytes the task-definition limit, used when the cgroup reports none
 *   (Fargate often reports the VM's memory or an "unlimited" sentinel).
 */
export function statsToRawUsage(s: DockerStatsJson, nowMs: number, fallbackLimitBytes: number): RawUsage {
  const cpu = s.cpu_stats ?? {};
  const mem = s.memory_stats ?? {};
  const st = mem.stats ?? {};
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += num(n.rx_bytes);
    tx += num(n.tx_bytes);
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (e.op ?? '').toLowerCase(); // cgroup v1 "Read", v2 "read"
    if (op === 'read') read += num(e.value);
    else if (op === 'write') write += num(e.value);
  }
  const readAt = s.read ? Date.parse(s.read) : Number.NaN;
  const rawLimit = num(mem.limit);
  const limit = rawLimit > 0 && rawLimit < UNLIMITED ? rawLimit : fallbackLimitBytes;
  return {
    // Stopped containers carry year-1 timestamps: use our clock then.
    timestampMs: Number.isFinite(readAt) && readAt > 0 ? readAt : nowMs,
    cpuUsageNs: num(cpu.cpu_usage?.total_usage),
    systemCpuNs: num(cpu.system_cpu_usage),
    onlineCpus: num(cpu.online_cpus) || (cpu.cpu_usage?.percpu_usage?.length ?? 0),
    memRawUsageBytes: num(mem.usage),
    memInactiveFileBytes: st.total_inactive_file !== undefined ? num(st.total_inactive_file) : num(st.inactive_file),
    memLimitBytes: fallbackLimitBytes > 0 && limit > fallbackLimitBytes ? fallbackLimitBytes : limit,
    netRxBytes: rx,
    netTxBytes: tx,
    blkReadBytes: read,
    blkWriteBytes: write,
    pids: num(s.pids_stats?.current),
    source: 'ecs',
  };
}
