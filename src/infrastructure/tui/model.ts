// The data behind `dockwatch top`: rows built from SubscribeToMetrics batches, rates from
// consecutive samples, short histories for the detail view, sorting, filtering and text
// formatting. No terminal code here, so all of it is table-tested.
import type { MetricBatch } from '../../domain/types.js';

export const HISTORY_POINTS = 60;

export interface Row {
  /** agentId/containerId: the same id on two hosts is two rows. */
  key: string;
  host: string;
  agentId: string;
  id: string;
  name: string;
  image: string;
  state: string;
  health: string;
  restartCount: number;
  startedAtMs: number;
  cpuPercent: number;
  onlineCpus: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  netRxRate: number;
  netTxRate: number;
  blkReadRate: number;
  blkWriteRate: number;
  pids: number;
  timestampMs: number;
  /** Cumulative counters of the last sample, for the next rate. */
  last: { netRx: number; netTx: number; blkRead: number; blkWrite: number };
  history: { cpu: number[]; mem: number[]; net: number[] };
}

export interface HostRow {
  agentId: string;
  hostname: string;
  cpuPercent: number;
  memPercent: number;
  numCpus: number;
}

export interface TopModel {
  rows: Map<string, Row>;
  hosts: Map<string, HostRow>;
  batches: number;
}

export function createModel(): TopModel {
  return { rows: new Map(), hosts: new Map(), batches: 0 };
}

const rate = (cur: number, prev: number, dtS: number): number =>
  dtS > 0 && cur >= prev ? (cur - prev) / dtS : 0;

function push(list: number[], v: number): void {
  list.push(Number.isFinite(v) ? v : 0);
  if (list.length > HISTORY_POINTS) list.splice(0, list.length - HISTORY_POINTS);
}

/**
 * Folds one batch into the model. A live `complete` batch lists every container of its host
 * that the subscription matches, so rows of that host it no longer lists are gone; a
 * "destroy" event or a "removed" state removes a row at once.
 */
export function applyBatch(model: TopModel, batch: MetricBatch): TopModel {
  model.batches++;
  if (batch.host) {
    model.hosts.set(batch.agentId, {
      agentId: batch.agentId, hostname: batch.hostname, cpuPercent: batch.host.cpuPercent,
      memPercent: batch.host.memPercent, numCpus: batch.host.numCpus,
    });
  } else if (!model.hosts.has(batch.agentId)) {
    model.hosts.set(batch.agentId, { agentId: batch.agentId, hostname: batch.hostname, cpuPercent: 0, memPercent: 0, numCpus: 0 });
  }

  const listed = new Set<string>();
  for (const c of batch.containers) {
    const key = `${batch.agentId}/${c.id}`;
    listed.add(key);
    if (c.state === 'removed') {
      model.rows.delete(key);
      continue;
    }
    const prev = model.rows.get(key);
    if (prev && c.timestampMs < prev.timestampMs) continue;
    const dtS = prev ? (c.timestampMs - prev.timestampMs) / 1000 : 0;
    // A repeated sample (same timestamp, e.g. snapshot then live) keeps the rates it had.
    const fresh = prev !== undefined && dtS > 0;
    const row: Row = {
      key, host: batch.hostname, agentId: batch.agentId, id: c.id, name: c.name.replace(/^\//, ''),
      image: c.image, state: c.state, health: c.health, restartCount: c.restartCount, startedAtMs: c.startedAtMs,
      cpuPercent: c.cpuPercent, onlineCpus: c.onlineCpus,
      memUsage: c.memUsageBytes, memLimit: c.memLimitBytes, memPercent: c.memPercent,
      netRxRate: fresh ? rate(c.netRxBytes, prev.last.netRx, dtS) : prev?.netRxRate ?? 0,
      netTxRate: fresh ? rate(c.netTxBytes, prev.last.netTx, dtS) : prev?.netTxRate ?? 0,
      blkReadRate: fresh ? rate(c.blkReadBytes, prev.last.blkRead, dtS) : prev?.blkReadRate ?? 0,
      blkWriteRate: fresh ? rate(c.blkWriteBytes, prev.last.blkWrite, dtS) : prev?.blkWriteRate ?? 0,
      pids: c.pids,
      timestampMs: c.timestampMs,
      last: { netRx: c.netRxBytes, netTx: c.netTxBytes, blkRead: c.blkReadBytes, blkWrite: c.blkWriteBytes },
      history: prev?.history ?? { cpu: [], mem: [], net: [] },
    };
    if (!prev || dtS > 0) {
      push(row.history.cpu, row.cpuPercent);
      push(row.history.mem, row.memPercent);
      push(row.history.net, row.netRxRate + row.netTxRate);
    }
    model.rows.set(key, row);
  }
  // Snapshot messages (sequence 0) are partial by nature; only live complete batches prune.
  if (batch.complete && batch.sequence > 0) {
    for (const [key, row] of model.rows) {
      if (row.agentId === batch.agentId && !listed.has(key)) model.rows.delete(key);
    }
  }
  for (const e of batch.events) {
    if (e.action === 'destroy') model.rows.delete(`${batch.agentId}/${e.containerId}`);
  }
  return model;
}

export type SortKey = 'cpu' | 'mem' | 'net' | 'name';

export const SORT_LABEL: Record<SortKey, string> = { cpu: 'CPU', mem: 'memory', net: 'network', name: 'name' };

/** The keys that pick a sort order (documented in the footer and in docs/top.md). */
export const SORT_KEYS: Record<string, SortKey> = { c: 'cpu', m: 'mem', n: 'net', a: 'name', N: 'name' };

const byName = (a: Row, b: Row): number =>
  a.name.localeCompare(b.name) || a.host.localeCompare(b.host) || a.id.localeCompare(b.id);

/** Rows that match `filter` (case-insensitive substring of name, id, host or image), sorted. */
export function visibleRows(model: TopModel, sort: SortKey, filter: string): Row[] {
  const f = filter.trim().toLowerCase();
  const rows = [...model.rows.values()].filter((r) => f === ''
    || r.name.toLowerCase().includes(f) || r.id.toLowerCase().startsWith(f)
    || r.host.toLowerCase().includes(f) || r.image.toLowerCase().includes(f));
  const metric: Record<Exclude<SortKey, 'name'>, (r: Row) => number> = {
    cpu: (r) => r.cpuPercent,
    mem: (r) => r.memUsage,
    net: (r) => r.netRxRate + r.netTxRate,
  };
  if (sort === 'name') return rows.sort(byName);
  const m = metric[sort];
  // Biggest first, as in top; ties by name so equal rows do not jump around.
  return rows.sort((a, b) => m(b) - m(a) || byName(a, b));
}

// ---------- formatting ----------

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0B';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? Math.round(v) : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)}${UNITS[u]}`;
}

export const formatRate = (bytesPerSecond: number): string => `${formatBytes(bytesPerSecond)}/s`;

export const formatPercent = (p: number): string => `${(Number.isFinite(p) ? p : 0).toFixed(1)}%`;

const SPARK = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values, scaled to [0, max(values, floor)]. */
export function sparkline(values: readonly number[], width: number, floor = 0): string {
  const tail = values.slice(-Math.max(0, width));
  const max = Math.max(floor, ...tail);
  if (tail.length === 0) return '';
  return tail.map((v) => {
    if (!(max > 0) || !(v > 0)) return SPARK[0];
    return SPARK[Math.min(SPARK.length - 1, Math.floor((v / max) * (SPARK.length - 1) + 0.5))];
  }).join('');
}

function fit(text: string, width: number, align: 'left' | 'right'): string {
  const t = text.length > width ? (width > 1 ? `${text.slice(0, width - 1)}…` : text.slice(0, width)) : text;
  return align === 'left' ? t.padEnd(width) : t.padStart(width);
}

interface Column {
  title: string;
  width: number;
  align: 'left' | 'right';
  /** Lower goes first when the terminal is too narrow for every column. */
  keep: number;
  value: (r: Row) => string;
}

const COLUMNS: Column[] = [
  { title: 'HOST', width: 14, align: 'left', keep: 7, value: (r) => r.host },
  { title: 'NAME', width: 0, align: 'left', keep: 10, value: (r) => r.name },
  { title: 'ID', width: 12, align: 'left', keep: 5, value: (r) => r.id.slice(0, 12) },
  { title: 'CPU %', width: 7, align: 'right', keep: 9, value: (r) => formatPercent(r.cpuPercent) },
  { title: 'MEM USAGE / LIMIT', width: 19, align: 'right', keep: 8,
    value: (r) => `${formatBytes(r.memUsage)} / ${formatBytes(r.memLimit)}` },
  { title: 'MEM %', width: 6, align: 'right', keep: 9, value: (r) => formatPercent(r.memPercent) },
  { title: 'NET RX', width: 10, align: 'right', keep: 6.5, value: (r) => formatRate(r.netRxRate) },
  { title: 'NET TX', width: 10, align: 'right', keep: 6, value: (r) => formatRate(r.netTxRate) },
  { title: 'BLK READ', width: 10, align: 'right', keep: 3, value: (r) => formatRate(r.blkReadRate) },
  { title: 'BLK WRITE', width: 10, align: 'right', keep: 3, value: (r) => formatRate(r.blkWriteRate) },
  { title: 'PIDS', width: 5, align: 'right', keep: 4, value: (r) => String(r.pids) },
  { title: 'STATE', width: 10, align: 'left', keep: 4, value: (r) => r.state },
  { title: 'HEALTH', width: 9, align: 'left', keep: 2, value: (r) => (r.health === 'none' ? '-' : r.health) },
];

const MIN_NAME = 12;
const GAP = 1;

/** Picks the columns that fit `width` (NAME takes what is left) and formats header and rows. */
export function formatTable(rows: readonly Row[], width: number): { header: string; lines: string[] } {
  let cols = [...COLUMNS];
  const needed = (cs: Column[]) => cs.reduce((n, c) => n + (c.width || MIN_NAME) + GAP, -GAP);
  while (needed(cols) > width && cols.length > 1) {
    const drop = cols.filter((c) => c.title !== 'NAME').sort((a, b) => a.keep - b.keep)[0];
    if (!drop) break;
    cols = cols.filter((c) => c !== drop);
  }
  const nameWidth = Math.max(MIN_NAME, Math.min(40, width - needed(cols) + MIN_NAME));
  const w = (c: Column) => (c.title === 'NAME' ? nameWidth : c.width);
  const line = (cells: (c: Column) => string) =>
    cols.map((c) => fit(cells(c), w(c), c.align)).join(' '.repeat(GAP)).slice(0, Math.max(0, width)).trimEnd();
  return { header: line((c) => c.title), lines: rows.map((r) => line((c) => c.value(r))) };
}
