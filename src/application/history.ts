// History queries: parse and check the range parameters, then read the store.
// Errors name the parameter at fault (AppError INVALID_ARGUMENT, field = parameter name),
// and the HTTP edge turns them into 400s.
import { parseDuration } from '../domain/duration.js';
import { autoStepMs, bucketCount, CONTAINER_METRICS, HOST_METRICS } from '../domain/rollup.js';
import { invalidArgument } from './errors.js';
import type { HistoryReader, SeriesPoint } from './store-ports.js';

export const MAX_POINTS = 10_000;
export const AUTO_POINTS = 1000;
export const DEFAULT_RANGE_MS = 3_600_000;

export interface RangeParams {
  from?: string | undefined;
  to?: string | undefined;
  step?: string | undefined;
}

export interface ParsedRange {
  fromMs: number;
  toMs: number;
  stepMs: number;
}

/**
 * A time: ISO 8601 ("2026-11-22T04:00:00Z"), epoch milliseconds, "now", or relative to now:
 * "-1h", "now-15m", "-30s". Returns null when unparsable.
 */
export function parseTime(text: string, nowMs: number): number | null {
  const t = text.trim();
  if (t === '' ) return null;
  if (t === 'now') return nowMs;
  const rel = /^(?:now)?\s*([+-])\s*(.+)$/.exec(t);
  if (rel && !/^\d{4}-/.test(t)) {
    const d = parseDuration(rel[2]!);
    if (d === null) return null;
    return rel[1] === '-' ? nowMs - d : nowMs + d;
  }
  if (/^\d{10,}$/.test(t)) return Number(t);
  // Only accept what looks like ISO 8601; Date.parse takes too much else.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) return null;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

export function parseRange(params: RangeParams, nowMs: number): ParsedRange {
  const toMs = params.to === undefined || params.to === '' ? nowMs : parseTime(params.to, nowMs);
  if (toMs === null) throw invalidArgument('to', `cannot parse "${params.to}" (ISO 8601, epoch ms, "now" or relative like -1h)`);
  const fromMs = params.from === undefined || params.from === ''
    ? toMs - DEFAULT_RANGE_MS : parseTime(params.from, nowMs);
  if (fromMs === null) throw invalidArgument('from', `cannot parse "${params.from}" (ISO 8601, epoch ms, "now" or relative like -1h)`);
  if (fromMs > toMs) throw invalidArgument('from', 'from is after to');

  let stepMs: number;
  if (params.step === undefined || params.step === '' || params.step === 'auto') {
    stepMs = autoStepMs(toMs - fromMs, AUTO_POINTS);
  } else {
    const d = parseDuration(params.step);
    if (d === null || d <= 0) throw invalidArgument('step', `cannot parse "${params.step}" (a duration like 10s, 5m, or auto)`);
    stepMs = d;
  }
  const n = bucketCount(fromMs, toMs, stepMs);
  if (n > MAX_POINTS) {
    throw invalidArgument('step', `gives ${n} points, more than ${MAX_POINTS}: use a larger step or auto`);
  }
  return { fromMs, toMs, stepMs };
}

export interface HistoryDeps {
  store: HistoryReader;
  now: () => number;
}

export interface HistoryResult {
  id: string;
  fromMs: number;
  toMs: number;
  stepMs: number;
  fields: string[];
  points: SeriesPoint[];
}

export async function containerHistory(
  deps: HistoryDeps, containerId: string | undefined, params: RangeParams,
): Promise<HistoryResult> {
  if (!containerId) throw invalidArgument('container_id', 'is required');
  const range = parseRange(params, deps.now());
  if (!(await deps.store.hasContainer(containerId))) {
    throw invalidArgument('container_id', `unknown container "${containerId}"`);
  }
  const points = await deps.store.queryContainer({ containerId, ...range });
  return { id: containerId, ...range, fields: CONTAINER_METRICS.map((m) => m.key), points };
}

export async function hostHistory(
  deps: HistoryDeps, hostId: string, params: RangeParams,
): Promise<HistoryResult> {
  const range = parseRange(params, deps.now());
  if (!(await deps.store.hasHost(hostId))) throw invalidArgument('id', `unknown host "${hostId}"`);
  const points = await deps.store.queryHost({ hostId, ...range });
  return { id: hostId, ...range, fields: HOST_METRICS.map((m) => m.key), points };
}
