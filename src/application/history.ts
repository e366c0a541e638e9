// History queries: parse and check the range parameters, then read the store (series per step,
// and the stored container lifecycle events).
// Errors name the parameter at fault (AppError INVALID_ARGUMENT, field = parameter name),
// and the HTTP edge turns them into 400s.
import { parseDuration } from '../domain/duration.js';
import { autoStepMs, bucketCount, CONTAINER_METRICS, HOST_METRICS } from '../domain/rollup.js';
import { invalidArgument } from './errors.js';
import type { EventReader, HistoryReader, SeriesPoint, StoredContainerEvent } from './store-ports.js';

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

/** from/to (defaults: the hour before now); from after to is refused. */
export function parseWindow(params: Pick<RangeParams, 'from' | 'to'>, nowMs: number): { fromMs: number; toMs: number } {
  const toMs = params.to === undefined || params.to === '' ? nowMs : parseTime(params.to, nowMs);
  if (toMs === null) throw invalidArgument('to', `cannot parse "${params.to}" (ISO 8601, epoch ms, "now" or relative like -1h)`);
  const fromMs = params.from === undefined || params.from === ''
    ? toMs - DEFAULT_RANGE_MS : parseTime(params.from, nowMs);
  if (fromMs === null) throw invalidArgument('from', `cannot parse "${params.from}" (ISO 8601, epoch ms, "now" or relative like -1h)`);
  if (fromMs > toMs) throw invalidArgument('from', 'from is after to');
  return { fromMs, toMs };
}

export function parseRange(params: RangeParams, nowMs: number): ParsedRange {
  const { fromMs, toMs } = parseWindow(params, nowMs);
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

export const DEFAULT_EVENT_LIMIT = 1000;
export const MAX_EVENT_LIMIT = 10_000;

export interface EventParams {
  from?: string | undefined;
  to?: string | undefined;
  /** Comma-separated actions (restart,oom,die...); all when absent. */
  action?: string | undefined;
  limit?: number | undefined;
}

export interface EventsResult {
  id: string;
  fromMs: number;
  toMs: number;
  events: StoredContainerEvent[];
  /** More events than the limit in the range: the oldest `limit` are returned. */
  truncated: boolean;
}

function parseActions(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const actions = text.split(',').map((a) => a.trim());
  const bad = actions.find((a) => !/^[a-z][a-z_]{0,63}$/.test(a));
  if (bad !== undefined) throw invalidArgument('action', `"${bad}" is not an action (comma-separated, like restart,oom,die)`);
  return actions;
}

/** Stored lifecycle events of one container (`by: 'container'`) or of every container of a host. */
export async function storedEvents(
  deps: { store: EventReader; now: () => number }, by: 'container' | 'host', id: string, params: EventParams,
): Promise<EventsResult> {
  const { fromMs, toMs } = parseWindow(params, deps.now());
  const actions = parseActions(params.action);
  const limit = params.limit ?? DEFAULT_EVENT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_LIMIT) throw invalidArgument('limit', `must be 1 to ${MAX_EVENT_LIMIT}`);
  const known = by === 'container' ? await deps.store.hasContainer(id) : await deps.store.hasHost(id);
  if (!known) throw invalidArgument('id', `unknown ${by} "${id}"`);
  // One more than asked tells whether the range holds more.
  const events = await deps.store.queryEvents({
    ...(by === 'container' ? { containerId: id } : { host: id }), fromMs, toMs, ...(actions ? { actions } : {}), limit: limit + 1,
  });
  return { id, fromMs, toMs, events: events.slice(0, limit), truncated: events.length > limit };
}
