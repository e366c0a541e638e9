// HostCollector over /proc and statfs. In a container, point procRoot at the host's /proc
// (HOST_PROC=/host/proc) and hostRoot at a read-only bind of the host's / (e.g. /host/root):
// mounts are then read from <proc>/1/mounts (the host init's view) and each one is statfs'd
// at <hostRoot><mount>. Without hostRoot, statfs sees the agent's own filesystem, which is right
// natively and harmless (deduped) in a container.
import { readFile, statfs } from 'node:fs/promises';
import { createSmallFileReader } from '../shared/small-file-reader.js';
import type { HostCollector, Logger } from '../../application/ports.js';
import { cpuBusyPercent, memUsed, percentOf, type CpuTimes } from '../../domain/host-math.js';
import type { DiskUsage, HostSample } from '../../domain/types.js';
import {
  parseHostNetDev, parseLoadAvg, parseMemInfo, parseProcStatCpus, parseRealMounts, parseUptime, type MountEntry,
} from './parse.js';

export interface HostCollectorOptions {
  procRoot?: string;
  /** Reserved for /sys readings (HOST_SYS); /proc covers everything collected today. */
  sysRoot?: string;
  /** Where the host's / is visible for statfs ('' natively). */
  hostRoot?: string;
  runtimeAvailable: () => boolean;
  log?: Logger;
  clock?: () => number;
  /** The mount table changes rarely: re-read it at most this often (default 30 s). */
  mountsTtlMs?: number;
  /** readSync on kept descriptors (see the cgroup reader's syncReads). Default false. */
  syncReads?: boolean;
}

export function createHostCollector(opts: HostCollectorOptions): HostCollector {
  const proc = opts.procRoot ?? '/proc';
  const hostRoot = (opts.hostRoot ?? '').replace(/\/+$/, '');
  const clock = opts.clock ?? Date.now;
  const mountsTtl = opts.mountsTtlMs ?? 30_000;
  let prevTotal: CpuTimes | undefined;
  let prevCores: CpuTimes[] = [];
  let mounts: { at: number; list: MountEntry[] } | undefined;
  const warned = new Set<string>();

  /** Optional readings fail soft: log once per kind, report zeros. */
  const soft = async <T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (!warned.has(what)) {
        warned.add(what);
        opts.log?.warn({ what, err: String(err) }, 'host metric unavailable');
      }
      return fallback;
    }
  };

  // The per-round files stay open (one pread each); the mount table is read the plain way.
  const files = createSmallFileReader({ sync: opts.syncReads ?? false, maxOpen: 16 });
  const read = (name: string) => files.read(`${proc}/${name}`);
  const readOnce = (name: string) => readFile(`${proc}/${name}`, 'latin1');

  async function mountList(now: number): Promise<MountEntry[]> {
    if (mounts && now - mounts.at < mountsTtl) return mounts.list;
    const text = await readOnce('1/mounts').catch(() => readOnce('self/mounts'));
    mounts = { at: now, list: parseRealMounts(text) };
    return mounts.list;
  }

  async function disks(now: number): Promise<DiskUsage[]> {
    const list = await mountList(now);
    const out = await Promise.all(list.map(async (m): Promise<DiskUsage | null> => {
      try {
        const s = await statfs(`${hostRoot}${m.mount}`);
        const total = s.blocks * s.bsize;
        const used = (s.blocks - s.bfree) * s.bsize;
        // df's Use%: used over what non-root users can have (used + avail).
        const usable = used + s.bavail * s.bsize;
        return { mount: m.mount, device: m.device, fsType: m.fsType, totalBytes: total, usedBytes: used, usedPercent: percentOf(used, usable) };
      } catch {
        return null;
      }
    }));
    return out.filter((d): d is DiskUsage => d !== null && d.totalBytes > 0);
  }

  return {
    async collect(): Promise<HostSample> {
      const now = clock();
      const [cpus, load, mem, net, uptime, diskList] = await Promise.all([
        soft('cpu', async () => parseProcStatCpus(await read('stat')), { total: { total: 0, idle: 0 }, perCore: [] }),
        soft('loadavg', async () => parseLoadAvg(await read('loadavg')), { load1: 0, load5: 0, load15: 0 }),
        soft('meminfo', async () => parseMemInfo(await read('meminfo')), { totalBytes: 0, availableBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 }),
        soft('net', async () => parseHostNetDev(await read('net/dev')), { rx: 0, tx: 0 }),
        soft('uptime', async () => parseUptime(await read('uptime')), 0),
        soft('disks', () => disks(now), [] as DiskUsage[]),
      ]);
      const cpuPercent = cpuBusyPercent(prevTotal, cpus.total);
      const perCore = cpus.perCore.map((c, i) => cpuBusyPercent(prevCores[i], c));
      prevTotal = cpus.total;
      prevCores = cpus.perCore;
      const used = memUsed(mem.totalBytes, mem.availableBytes);
      const swapUsed = mem.swapTotalBytes > mem.swapFreeBytes ? mem.swapTotalBytes - mem.swapFreeBytes : 0;
      return {
        timestampMs: now,
        numCpus: cpus.perCore.length,
        cpuPercent,
        cpuPerCorePercent: perCore,
        load1: load.load1,
        load5: load.load5,
        load15: load.load15,
        memTotalBytes: mem.totalBytes,
        memAvailableBytes: mem.availableBytes,
        memUsedBytes: used,
        memPercent: percentOf(used, mem.totalBytes),
        swapTotalBytes: mem.swapTotalBytes,
        swapUsedBytes: swapUsed,
        disks: diskList,
        netRxBytes: net.rx,
        netTxBytes: net.tx,
        uptimeSeconds: uptime,
        runtimeAvailable: opts.runtimeAvailable(),
      };
    },
  };
}
