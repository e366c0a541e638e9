// UsageReader over the cgroup files (v1 and v2) and /proc: the cheap road. The Docker daemon
// does no work for these reads, unlike the stats API. Parsing lives in parse.ts; this file only
// finds the files (once per container, cached) and reads them.
import { access, readdir, readlink } from 'node:fs/promises';
import type { ContainerInfo, Logger, RawUsage, UsageReader } from '../../application/ports.js';
import { effectiveMemLimit } from '../../domain/container-math.js';
import {
  cpuUsageNsV2, flatKeyed, inactiveFile, meminfoBytes, parseBlkioV1, parseIoStatV2, parseNetDev,
  parseProcCgroup, parseProcStat, parseSingleNumber, type ProcCgroupPaths, type ProcStatSummary,
} from './parse.js';
import { createSmallFileReader } from '../shared/small-file-reader.js';

export interface CgroupReaderOptions {
  /** Host's /proc (HOST_PROC), default '/proc'. */
  procRoot?: string;
  /** Host's /sys (HOST_SYS), default '/sys'. */
  sysRoot?: string;
  log?: Logger;
  /** Clock for RawUsage.timestampMs; tests may pin it. */
  clock?: () => number;
  /** Read with readSync on kept descriptors: about 3x less CPU, blocks ~1 ms per 100 containers. Default false. */
  syncReads?: boolean;
  /** Most files kept open (default 4096). */
  maxOpenFiles?: number;
}

export interface CgroupUsageReader extends UsageReader {
  /** Files currently kept open. */
  openFiles(): number;
  close(): void;
}

/** The resolved files of one container; null paths are controllers this host lacks. */
interface ContainerFiles {
  pid: number;
  version: 1 | 2;
  cpu: string;
  memUsage: string | null;
  memStat: string | null;
  /** v2 memory.max; on v1 the limit comes from memory.stat's hierarchical_memory_limit. */
  memLimit: string | null;
  io: string | null;
  pids: string | null;
  /** null when the container shares the host's network namespace (docker stats shows none). */
  netDev: string | null;
  lastUsedMs: number;
}

const V1_MOUNTS: Record<string, string[]> = {
  cpuacct: ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'],
  memory: ['memory'],
  blkio: ['blkio'],
  pids: ['pids'],
};

// Shared host readings are reused for this long so 100 containers cost one /proc/stat read.
const PROC_STAT_TTL_MS = 20;
const MEMINFO_TTL_MS = 60_000;
const CACHE_SWEEP_MS = 60_000;
// A container whose cgroup cannot be found is not searched again for this long (same pid):
// the next reader (Engine API) serves it meanwhile without a dozen failed lookups a round.
const MISS_RETRY_MS = 30_000;

export function createCgroupUsageReader(opts: CgroupReaderOptions = {}): CgroupUsageReader {
  const proc = opts.procRoot ?? '/proc';
  const cgroupRoot = `${opts.sysRoot ?? '/sys'}/fs/cgroup`;
  const clock = opts.clock ?? Date.now;
  const log = opts.log;
  const cache = new Map<string, ContainerFiles>();
  const misses = new Map<string, { pid: number; until: number }>();
  /** Containers already warned about missing v2 files ("pid:files", last seen), so the line is logged once. */
  const warned = new Map<string, { key: string; at: number }>();
  const sync = opts.syncReads ?? false;
  const files = createSmallFileReader({ sync, maxOpen: opts.maxOpenFiles ?? 4096 });
  const readFile = (path: string) => files.read(path);
  /** Optional files: a missing one (e.g. a pid gone mid-read for net/dev) reads as empty. */
  const opt = (path: string | null): Promise<string> => (path ? files.read(path).catch(() => '') : Promise.resolve(''));
  const optNow = (path: string | null): string => {
    if (!path) return '';
    try {
      return files.readNow(path);
    } catch {
      return '';
    }
  };
  const release = (f: ContainerFiles) => {
    for (const p of [f.cpu, f.memUsage, f.memStat, f.memLimit, f.io, f.pids, f.netDev]) if (p) files.forget(p);
  };
  let version: Promise<1 | 2> | undefined;
  const v1Mounts = new Map<string, Promise<string | null>>();
  let stat: { at: number; value: Promise<ProcStatSummary> } | undefined;
  let memTotal: { at: number; value: Promise<number> } | undefined;
  let lastSweep = clock();

  const cgroupVersion = (): Promise<1 | 2> =>
    (version ??= exists(`${cgroupRoot}/cgroup.controllers`).then((v2) => (v2 ? 2 : 1)));

  const v1Mount = (ctrl: string): Promise<string | null> => {
    let m = v1Mounts.get(ctrl);
    if (!m) {
      m = firstExisting((V1_MOUNTS[ctrl] ?? [ctrl]).map((d) => `${cgroupRoot}/${d}`));
      v1Mounts.set(ctrl, m);
    }
    return m;
  };

  const procStat = (now: number): Promise<ProcStatSummary> => {
    if (!stat || now - stat.at > PROC_STAT_TTL_MS) {
      stat = { at: now, value: readFile(`${proc}/stat`).then(parseProcStat) };
    }
    return stat.value;
  };

  const hostMemTotal = (now: number): Promise<number> => {
    if (!memTotal || now - memTotal.at > MEMINFO_TTL_MS) {
      memTotal = {
        at: now,
        value: readFile(`${proc}/meminfo`).then((t) => meminfoBytes(t, 'MemTotal'), () => 0),
      };
    }
    return memTotal.value;
  };

  /** Candidate cgroup paths, relative to a hierarchy root, in the order we trust them. */
  function candidates(c: ContainerInfo): string[] {
    // Docker (cgroupfs, systemd), then rootful Podman (systemd, cgroupfs). Rootless Podman's
    // user.slice/user-<uid>.slice/... path is found through /proc/<pid>/cgroup.
    const out = [`/docker/${c.id}`, `/system.slice/docker-${c.id}.scope`, `/machine.slice/libpod-${c.id}.scope`, `/libpod_parent/libpod-${c.id}`];
    const parent = c.cgroupParent.replace(/\/+$/, '');
    if (parent) {
      const p = parent.startsWith('/') ? parent : `/${parent}`;
      out.push(`${p}/${c.id}`, `${p}/docker-${c.id}.scope`, `${p}/libpod-${c.id}.scope`);
    }
    return out;
  }

  async function procCgroup(pid: number): Promise<ProcCgroupPaths | undefined> {
    if (!(pid > 0)) return undefined;
    try {
      const path = `${proc}/${pid}/cgroup`;
      const text = await readFile(path);
      files.forget(path); // read once per resolve: do not keep it open
      return parseProcCgroup(text);
    } catch {
      return undefined;
    }
  }

  /**
   * Where a "0::" path lives under the hierarchy. From inside a private cgroup namespace the kernel
   * writes other cgroups relative to ours ("/../../machine.slice/libpod-<id>.scope"); the host's
   * hierarchy (HOST_SYS) is absolute. With as many ".." as our depth, the rest is absolute; with
   * fewer, the rest hangs below one of our ancestors: try the top-level ones.
   */
  async function unifiedDirs(p: string): Promise<string[]> {
    if (!p.startsWith('/..')) return [`${cgroupRoot}${p}`];
    const rest = p.replace(/^(\/\.\.)+/, '');
    const out = [`${cgroupRoot}${rest}`];
    try {
      for (const d of await readdir(cgroupRoot, { withFileTypes: true })) if (d.isDirectory()) out.push(`${cgroupRoot}/${d.name}${rest}`);
    } catch {
      // no listing: the absolute guess only
    }
    return out;
  }

  async function readFileOnce(path: string): Promise<string> {
    try {
      const t = await readFile(path);
      files.forget(path);
      return t;
    } catch {
      return '';
    }
  }

  async function netDevPath(pid: number): Promise<string | null> {
    if (!(pid > 0)) return null;
    try {
      const [mine, host] = await Promise.all([readlink(`${proc}/${pid}/ns/net`), readlink(`${proc}/1/ns/net`)]);
      if (mine === host) return null;
    } catch {
      // Cannot compare namespaces (permissions): count the pid's interfaces anyway.
    }
    return `${proc}/${pid}/net/dev`;
  }

  async function resolve(c: ContainerInfo, now: number): Promise<ContainerFiles | null> {
    const v = await cgroupVersion();
    let fromProc: ProcCgroupPaths | undefined;
    const lazyProc = async () => (fromProc ??= await procCgroup(c.pid));
    const netDev = await netDevPath(c.pid);
    if (v === 2) {
      let dir = await firstExisting(candidates(c).map((r) => `${cgroupRoot}${r}`), 'cpu.stat');
      if (!dir) {
        const p = (await lazyProc())?.unified;
        if (p) dir = await firstExisting(await unifiedDirs(p), 'cpu.stat');
      }
      if (!dir) return null;
      // A controller not enabled in the parent's cgroup.subtree_control has no files here. Reading
      // its counters as 0 would be a silent lie: the Engine API serves this container instead.
      const wanted = ['memory.current', 'memory.stat', 'io.stat', 'pids.current'];
      const present = await Promise.all(wanted.map((f) => exists(`${dir}/${f}`)));
      const missing = wanted.filter((_, i) => !present[i]);
      if (missing.length) {
        const key = `${c.pid}:${missing.join(',')}`;
        const seen = warned.get(c.id);
        warned.set(c.id, { key, at: now });
        if (seen?.key !== key) {
          log?.warn({ container: c.id, name: c.name, dir, missing, controllers: (await readFileOnce(`${dir}/cgroup.controllers`)).trim() },
            'cgroup v2 files missing (controller not enabled in the parent\'s cgroup.subtree_control?): this container\'s metrics come from the Engine API');
        }
        return null;
      }
      return {
        pid: c.pid, version: 2, cpu: `${dir}/cpu.stat`,
        memUsage: `${dir}/memory.current`,
        memStat: `${dir}/memory.stat`,
        memLimit: `${dir}/memory.max`,
        io: `${dir}/io.stat`,
        pids: `${dir}/pids.current`,
        netDev, lastUsedMs: now,
      };
    }
    const findV1 = async (ctrl: string, file: string): Promise<string | null> => {
      const mount = await v1Mount(ctrl);
      if (!mount) return null;
      let dir = await firstExisting(candidates(c).map((r) => `${mount}${r}`), file);
      if (!dir) {
        const p = (await lazyProc())?.v1.get(ctrl);
        if (p) dir = await firstExisting([`${mount}${p}`], file);
      }
      return dir ? `${dir}/${file}` : null;
    };
    const cpu = await findV1('cpuacct', 'cpuacct.usage');
    if (!cpu) return null;
    const [memUsage, io, pids] = await Promise.all([
      findV1('memory', 'memory.usage_in_bytes'),
      findV1('blkio', 'blkio.throttle.io_service_bytes'),
      findV1('pids', 'pids.current'),
    ]);
    return {
      pid: c.pid, version: 1, cpu, memUsage,
      memStat: memUsage ? memUsage.replace(/memory\.usage_in_bytes$/, 'memory.stat') : null,
      memLimit: null, io, pids, netDev, lastUsedMs: now,
    };
  }

  function sweep(now: number): void {
    if (now - lastSweep < CACHE_SWEEP_MS) return;
    lastSweep = now;
    for (const [id, m] of misses) if (now >= m.until) misses.delete(id);
    for (const [id, w] of warned) if (now - w.at > 4 * MISS_RETRY_MS) warned.delete(id);
    for (const [id, f] of cache) {
      if (now - f.lastUsedMs > CACHE_SWEEP_MS) {
        cache.delete(id);
        release(f);
      }
    }
  }

  return {
    openFiles: () => files.openCount(),
    close(): void {
      cache.clear();
      files.close();
    },

    async read(c: ContainerInfo): Promise<RawUsage | null> {
      if (c.state !== 'running' && c.state !== 'paused') return null;
      const now = clock();
      sweep(now);
      let f = cache.get(c.id);
      if (!f || f.pid !== c.pid) {
        const miss = misses.get(c.id);
        if (miss && miss.pid === c.pid && now < miss.until) return null;
        // New container, or a new run of it (new init pid): its cgroup files are new too.
        if (f) release(f);
        f = (await resolve(c, now)) ?? undefined;
        if (!f) {
          cache.delete(c.id);
          misses.set(c.id, { pid: c.pid, until: now + MISS_RETRY_MS });
          log?.debug({ container: c.id }, 'cgroup files not found');
          return null;
        }
        misses.delete(c.id);
        cache.set(c.id, f);
      }
      f.lastUsedMs = now;
      const version = f.version;
      let texts: string[];
      // The counters' files must read (on v2 they were all there at resolve; v1 may lack a
      // controller, null); memory.max and net/dev are optional.
      const need = (p: string | null) => (p ? files.readNow(p) : '');
      const needAsync = (p: string | null) => (p ? readFile(p) : Promise.resolve(''));
      try {
        texts = sync
          ? [files.readNow(f.cpu), need(f.memUsage), need(f.memStat), optNow(f.memLimit), need(f.io), need(f.pids), optNow(f.netDev)]
          : await Promise.all([
            readFile(f.cpu), needAsync(f.memUsage), needAsync(f.memStat), opt(f.memLimit), needAsync(f.io), needAsync(f.pids), opt(f.netDev),
          ]);
      } catch {
        // The cgroup went away (container stopped or moved): resolve again next time.
        cache.delete(c.id);
        release(f);
        return null;
      }
      const [cpuT, memT, statT, limT, ioT, pidsT, netT] = texts as [string, string, string, string, string, string, string];
      const [sys, hostMem] = await Promise.all([procStat(now), hostMemTotal(now)]);
      const v2 = version === 2;
      const io = v2 ? parseIoStatV2(ioT) : parseBlkioV1(ioT);
      const net = netT ? parseNetDev(netT) : { rx: 0, tx: 0 };
      const limit = v2 ? parseSingleNumber(limT) : flatKeyed(statT, 'hierarchical_memory_limit');
      return {
        timestampMs: now,
        cpuUsageNs: v2 ? cpuUsageNsV2(cpuT) : parseSingleNumber(cpuT),
        systemCpuNs: sys.systemCpuNs,
        onlineCpus: sys.onlineCpus,
        memRawUsageBytes: parseSingleNumber(memT),
        memInactiveFileBytes: inactiveFile(statT, version),
        memLimitBytes: effectiveMemLimit(limit, hostMem),
        netRxBytes: net.rx,
        netTxBytes: net.tx,
        blkReadBytes: io.read,
        blkWriteBytes: io.write,
        pids: parseSingleNumber(pidsT),
        source: 'cgroup',
      };
    },
  };
}

function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function firstExisting(dirs: string[], file?: string): Promise<string | null> {
  for (const d of dirs) if (await exists(file ? `${d}/${file}` : d)) return d;
  return null;
}
