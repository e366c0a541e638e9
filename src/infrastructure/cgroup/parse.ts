// Pure parsers for cgroup v1/v2 and /proc files. They take the file's text and allocate as
// little as they can: this runs for every container every interval.
import { sumNetDev } from '../shared/net-dev.js';

/** A file holding one number ("1234\n"); "max" (v2 unlimited) and garbage give 0. */
export function parseSingleNumber(text: string): number {
  const n = Number.parseInt(text, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * The value of `key` in a flat-keyed file ("key value" per line: memory.stat, cpu.stat).
 * Scans for the key at a line start instead of splitting the whole file. 0 when absent.
 */
export function flatKeyed(text: string, key: string): number {
  let from = 0;
  for (;;) {
    const i = text.indexOf(key, from);
    if (i < 0) return 0;
    const atLineStart = i === 0 || text.charCodeAt(i - 1) === 10;
    const sep = text.charCodeAt(i + key.length);
    if (atLineStart && sep === 32) {
      return parseSingleNumber(text.slice(i + key.length + 1, lineEnd(text, i)));
    }
    from = i + key.length;
  }
}

function lineEnd(text: string, from: number): number {
  const e = text.indexOf('\n', from);
  return e < 0 ? text.length : e;
}

/** Whether a flat-keyed file has the key at all (to tell v1 `total_inactive_file` from v2). */
export function hasKey(text: string, key: string): boolean {
  return text.startsWith(key + ' ') || text.includes('\n' + key + ' ');
}

/** memory.stat -> inactive file cache, v1 (`total_inactive_file`) or v2 (`inactive_file`). */
export function inactiveFile(memoryStat: string, version: 1 | 2): number {
  return flatKeyed(memoryStat, version === 1 ? 'total_inactive_file' : 'inactive_file');
}

export interface IoBytes {
  read: number;
  write: number;
}

/** v1 blkio.throttle.io_service_bytes: "8:0 Read 4096" lines, summed over devices; "Total" skipped. */
export function parseBlkioV1(text: string): IoBytes {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a < 0 || b < 0) continue;
    const op = line.slice(a + 1, b);
    const v = parseSingleNumber(line.slice(b + 1));
    if (op === 'Read') read += v;
    else if (op === 'Write') write += v;
  }
  return { read, write };
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines, summed. */
export function parseIoStatV2(text: string): IoBytes {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    for (const field of line.split(' ')) {
      if (field.startsWith('rbytes=')) read += parseSingleNumber(field.slice(7));
      else if (field.startsWith('wbytes=')) write += parseSingleNumber(field.slice(7));
    }
  }
  return { read, write };
}

/** v2 cpu.stat `usage_usec` in ns. */
export function cpuUsageNsV2(cpuStat: string): number {
  return flatKeyed(cpuStat, 'usage_usec') * 1000;
}

export interface NetBytes {
  rx: number;
  tx: number;
}

/** /proc/<pid>/net/dev or /proc/net/dev: rx/tx bytes summed over every interface but `lo`. */
export const parseNetDev = (text: string): NetBytes => sumNetDev(text, (iface) => iface === 'lo');

/** Linux USER_HZ: /proc/stat counts in 1/100 s on every architecture Docker runs on. */
export const USER_HZ = 100;

export interface ProcStatSummary {
  /** Host CPU time in ns the way dockerd computes system_cpu_usage (user..softirq). */
  systemCpuNs: number;
  /** Number of cpuN lines: the online CPUs. */
  onlineCpus: number;
}

/** /proc/stat -> the `docker stats` denominator and the online CPU count. */
export function parseProcStat(text: string): ProcStatSummary {
  const first = text.slice(0, lineEnd(text, 0));
  const f = first.trim().split(/\s+/);
  let ticks = 0;
  // dockerd sums fields 1..7 (user nice system idle iowait irq softirq), not steal/guest.
  for (let i = 1; i <= 7 && i < f.length; i++) ticks += parseSingleNumber(f[i]!);
  let onlineCpus = 0;
  let from = first.length + 1;
  while (text.startsWith('cpu', from)) {
    onlineCpus++;
    from = lineEnd(text, from) + 1;
  }
  return { systemCpuNs: ticks * (1e9 / USER_HZ), onlineCpus };
}

/** /proc/meminfo value in bytes for a key like "MemTotal" (the file says kB). */
export function meminfoBytes(text: string, key: string): number {
  const i = text.startsWith(key + ':') ? 0 : text.indexOf('\n' + key + ':');
  if (i < 0) return 0;
  const start = text.indexOf(':', i) + 1;
  return parseSingleNumber(text.slice(start, lineEnd(text, start)).trim()) * 1024;
}

export interface ProcCgroupPaths {
  /** v1 controller name -> path ("memory" -> "/docker/<id>"); co-mounted names split. */
  v1: Map<string, string>;
  /** The "0::" line's path on v2 or hybrid hosts, '' when absent. */
  unified: string;
}

/** /proc/<pid>/cgroup: "hierarchy-ID:controller-list:path" lines. */
export function parseProcCgroup(text: string): ProcCgroupPaths {
  const v1 = new Map<string, string>();
  let unified = '';
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const ctrls = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (line.slice(0, a) === '0' && ctrls === '') unified = path;
    else for (const c of ctrls.split(',')) if (c) v1.set(c, path);
  }
  return { v1, unified };
}
