// Pure parsers for the host's /proc files.
import { sumNetDev } from '../shared/net-dev.js';
import type { CpuTimes } from '../../domain/host-math.js';

const int = (s: string | undefined): number => {
  const n = Number.parseInt(s ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
};

export interface ProcStatCpus {
  total: CpuTimes;
  perCore: CpuTimes[];
}

/**
 * /proc/stat "cpu" and "cpuN" lines. Total counts user nice system idle iowait irq softirq steal
 * (guest time is already inside user); idle counts idle + iowait.
 */
export function parseProcStatCpus(text: string): ProcStatCpus {
  let total: CpuTimes = { total: 0, idle: 0 };
  const perCore: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) break;
    const f = line.trim().split(/\s+/);
    let sum = 0;
    for (let i = 1; i <= 8; i++) sum += int(f[i]);
    const t = { total: sum, idle: int(f[4]) + int(f[5]) };
    if (f[0] === 'cpu') total = t;
    else perCore.push(t);
  }
  return { total, perCore };
}

export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
}

export function parseLoadAvg(text: string): LoadAvg {
  const f = text.trim().split(/\s+/).map(Number);
  const v = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : 0);
  return { load1: v(f[0]), load5: v(f[1]), load15: v(f[2]) };
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
}

/** /proc/meminfo (kB). MemAvailable is absent before Linux 3.14: free + buffers + cached then. */
export function parseMemInfo(text: string): MemInfo {
  const kv = new Map<string, number>();
  for (const line of text.split('\n')) {
    const c = line.indexOf(':');
    if (c > 0) kv.set(line.slice(0, c), int(line.slice(c + 1).trim()) * 1024);
  }
  const g = (k: string) => kv.get(k) ?? 0;
  const available = kv.has('MemAvailable') ? g('MemAvailable') : g('MemFree') + g('Buffers') + g('Cached');
  return {
    totalBytes: g('MemTotal'), availableBytes: available, swapTotalBytes: g('SwapTotal'), swapFreeBytes: g('SwapFree'),
  };
}

/** Interfaces that only mirror traffic already counted elsewhere (loopback, container veth ends). */
export function isVirtualInterface(name: string): boolean {
  return name === 'lo' || name.startsWith('veth');
}

/** /proc/net/dev: rx/tx bytes summed over the host's interfaces, minus lo and veth pairs. */
export const parseHostNetDev = (text: string): { rx: number; tx: number } => sumNetDev(text, isVirtualInterface);

export function parseUptime(text: string): number {
  const v = Number.parseFloat(text);
  return Number.isFinite(v) && v > 0 ? v : 0;
}

export interface MountEntry {
  device: string;
  mount: string;
  fsType: string;
}

/** Pseudo and layered filesystems that say nothing about disk space. */
const VIRTUAL_FS = new Set([
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'tmpfs', 'devtmpfs', 'devpts', 'mqueue', 'overlay', 'aufs',
  'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'configfs', 'fusectl', 'hugetlbfs', 'autofs',
  'binfmt_misc', 'nsfs', 'rpc_pipefs', 'squashfs', 'ramfs', 'efivarfs', 'selinuxfs', 'fuse.lxcfs',
  'nfsd', 'shm', 'iso9660', 'fuse.gvfsd-fuse', 'fuse.portal',
]);

/** Network and pooled filesystems whose "device" is not a /dev path but which hold real data. */
const POOLED_FS = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'zfs', 'ceph', 'glusterfs', 'fuse.sshfs', 'virtiofs', '9p']);

/** Octal escapes in /proc/mounts ("\040" for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * /proc/<pid>/mounts -> real filesystems, one per device (the shortest mount path wins, so "/"
 * beats a bind mount of a subdirectory of the same disk, such as Docker's data root).
 */
export function parseRealMounts(text: string): MountEntry[] {
  const byDevice = new Map<string, MountEntry>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 3) continue;
    const e = { device: unescapeMount(f[0]!), mount: unescapeMount(f[1]!), fsType: f[2]! };
    if (VIRTUAL_FS.has(e.fsType)) continue;
    if (!e.device.startsWith('/dev/') && !POOLED_FS.has(e.fsType)) continue;
    const seen = byDevice.get(e.device);
    if (!seen || e.mount.length < seen.mount.length) byDevice.set(e.device, e);
  }
  return [...byDevice.values()].sort((a, b) => a.mount.localeCompare(b.mount));
}
