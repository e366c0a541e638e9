// Batch -> InfluxDB line protocol, built with the client library's Point class.
// Schema:
//   container  tags: host, container_id, container_name, image   fields: one float per metric
//   host       tags: host, agent_id                               fields: one float per metric
//   alert      tags: rule_id, severity, state, host, container_id fields: id, container_name,
//              value, threshold, message, context (JSON)
// Every numeric field is a float, always, so a field never changes type between writes.
// Timestamps are in ms (precision=ms): same tags and timestamp overwrite = idempotent writes.
import { Point } from '@influxdata/influxdb-client';
import type { ContainerSample, MetricBatch } from '../../domain/types.js';
import { containerValues, CONTAINER_METRICS, hostValues, HOST_METRICS, type MetricDef } from '../../domain/rollup.js';
import type { AlertEvent } from '../../application/store-ports.js';
import type { MinuteRow } from '../../domain/minute-rollup.js';

export const MEASUREMENT = { container: 'container', host: 'host', alert: 'alert' } as const;

function fields(p: Point, metrics: readonly { key: string; column: string }[], vals: Record<string, number>): Point {
  for (const m of metrics) {
    const v = vals[m.key];
    if (v !== undefined && Number.isFinite(v)) p.floatField(m.column, v);
  }
  return p;
}

// The write path (batchToBuffer) builds each series' measurement+tag prefix once with the
// library's Point (which does the escaping) and caches it; the fields are our fixed column names
// (nothing to escape) with finite numbers written as Point.floatField writes them (String(n)),
// sorted by name as Point sorts them. The result is byte-identical to Point.toLineProtocol()
// (checked in the tests against batchToLines, which uses Point for every line) at a fraction of
// the cost: at ingest rates Point's per-point tag sorting and escaping was the largest CPU cost.
interface CachedPrefix { tags: string[]; bytes: Buffer }
// Keyed by container id (by agent id for hosts); the other tags are compared (cheap) instead of
// joined into a key.
const containerPrefixes = new Map<string, CachedPrefix>();
const hostPrefixes = new Map<string, CachedPrefix>();
const PREFIX_CACHE_MAX = 100_000;

/** `tags` is the caller's reused array (no garbage per line); a miss keeps a copy. */
function seriesPrefix(cache: Map<string, CachedPrefix>, key: string, measurement: string, tagNames: readonly string[], tags: string[]): Buffer {
  const hit = cache.get(key);
  if (hit) {
    let same = true;
    for (let i = 0; i < tags.length && same; i++) same = hit.tags[i] === tags[i];
    if (same) return hit.bytes;
  }
  const probe = new Point(measurement);
  tagNames.forEach((name, i) => probe.tag(name, tags[i]!));
  const line = probe.floatField('x', 0).toLineProtocol({ convertTime: () => undefined })!;
  if (cache.size >= PREFIX_CACHE_MAX) cache.clear();
  const bytes = Buffer.from(line.slice(0, line.length - ' x=0'.length));
  cache.set(key, { tags: [...tags], bytes });
  return bytes;
}

export const CONTAINER_TAGS = ['host', 'container_id', 'container_name', 'image'] as const;
export const HOST_TAGS = ['host', 'agent_id'] as const;
const containerTags = ['', '', '', ''];
const hostTags = ['', ''];

/** A container line built with Point: the reference the tests hold batchToBuffer to. */
export function containerLineWithPoint(hostname: string, c: ContainerSample): string | undefined {
  const p = new Point(MEASUREMENT.container)
    .tag('host', hostname).tag('container_id', c.id).tag('container_name', c.name).tag('image', c.image)
    .timestamp(c.timestampMs);
  return fields(p, CONTAINER_METRICS, containerValues(c)).toLineProtocol();
}

// ---------- straight to bytes ----------
// The write path encodes a batch into one Buffer without a string per line: at ingest rates the
// per-line strings were most of the server's garbage.

/** A measurement's fields in the order Point writes them (by name), with their `name=` bytes. */
const fieldWriters = <K extends string>(metrics: readonly { key: K; column: string }[]): Array<{ key: K; first: Buffer; next: Buffer }> =>
  [...metrics].sort((x, y) => (x.column < y.column ? -1 : 1))
    .map((m) => ({ key: m.key, first: Buffer.from(`${m.column}=`), next: Buffer.from(`,${m.column}=`) }));
const CONTAINER_FIELDS = fieldWriters(CONTAINER_METRICS);
const HOST_FIELDS = fieldWriters(HOST_METRICS);
let scratch = Buffer.allocUnsafe(256 * 1024);

function ensure(off: number, more: number): void {
  if (off + more <= scratch.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(scratch.length * 2, off + more));
  scratch.copy(bigger, 0, 0, off);
  scratch = bigger;
}

// Two ASCII digits per index 0..99: integers are written two digits per division.
const DIGIT_PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');

/** Digits in v, an integer in [0, 1e8). */
const digitCount = (v: number): number =>
  v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10_000 ? 4 : v < 100_000 ? 5 : v < 1_000_000 ? 6 : v < 10_000_000 ? 7 : 8;

/** Writes v (an integer in [0, 1e8)) so that it ends at `end`, zero-padded back to `start`. */
function writeDigitsBackwards(end: number, v: number, start: number): void {
  let i = end;
  // Below 1e8 every quotient fits int32, so `| 0` divisions are exact.
  while (v >= 100) {
    const q = (v / 100) | 0;
    const pair = (v - q * 100) * 2;
    scratch[--i] = DIGIT_PAIRS[pair + 1]!;
    scratch[--i] = DIGIT_PAIRS[pair]!;
    v = q;
  }
  if (v >= 10) { scratch[--i] = DIGIT_PAIRS[v * 2 + 1]!; scratch[--i] = DIGIT_PAIRS[v * 2]!; } else scratch[--i] = 48 + v;
  while (i > start) scratch[--i] = 48;
}

/**
 * Writes String(v) for a finite number. Non-negative safe integers (counters, byte sizes,
 * timestamps: most fields) go digit pair by digit pair in 8-digit halves, without a string;
 * the rest through String(). At ingest rates String() plus a Buffer write per field was the
 * largest part of encoding a line.
 */
function writeNumber(off: number, v: number): number {
  if (v >= 0 && Number.isSafeInteger(v)) {
    if (v < 1e8) {
      const end = off + digitCount(v);
      writeDigitsBackwards(end, v, end);
      return end;
    }
    const high = Math.floor(v / 1e8); // < 2^53 / 1e8, so below 1e8 too
    const mid = off + digitCount(high);
    writeDigitsBackwards(mid, high, mid);
    writeDigitsBackwards(mid + 8, v - high * 1e8, mid);
    return mid + 8;
  }
  return off + (scratch as Buffer & { latin1Write(s: string, offset: number): number }).latin1Write(String(v), off);
}

/**
 * Appends one line at `off` (after a newline unless it is the first): prefix, the sample's
 * finite fields, timestamp. Returns the new end, or `off` when no field is finite (Point
 * writes no line then either).
 */
function writeLine<K extends string>(off: number, first: boolean, prefix: Buffer, fields: ReadonlyArray<{ key: K; first: Buffer; next: Buffer }>,
  sample: Record<K, number>, timestampMs: number): number {
  ensure(off, prefix.length + 40 * fields.length + 40);
  let at = off;
  if (!first) scratch[at++] = 10;
  // TypedArray set, not Buffer copy: copy's argument handling cost more than the bytes.
  scratch.set(prefix, at);
  at += prefix.length;
  scratch[at++] = 32;
  const fieldsStart = at;
  for (const f of fields) {
    const v = sample[f.key];
    if (!Number.isFinite(v)) continue;
    const name = at === fieldsStart ? f.first : f.next;
    scratch.set(name, at);
    at = writeNumber(at + name.length, v);
  }
  if (at === fieldsStart) return off;
  scratch[at++] = 32;
  return writeNumber(at, timestampMs);
}

/** The batch's lines as one newline-separated UTF-8 Buffer, and how many lines it holds. */
export function batchToBuffer(batch: MetricBatch): { body: Buffer; count: number } {
  let off = 0;
  let count = 0;
  for (const c of batch.containers) {
    containerTags[0] = batch.hostname; containerTags[1] = c.id; containerTags[2] = c.name; containerTags[3] = c.image;
    const prefix = seriesPrefix(containerPrefixes, c.id, MEASUREMENT.container, CONTAINER_TAGS, containerTags);
    const end = writeLine(off, count === 0, prefix, CONTAINER_FIELDS, c, c.timestampMs);
    if (end !== off) { off = end; count++; }
  }
  if (batch.host) {
    hostTags[0] = batch.hostname; hostTags[1] = batch.agentId;
    const prefix = seriesPrefix(hostPrefixes, batch.agentId, MEASUREMENT.host, HOST_TAGS, hostTags);
    const end = writeLine(off, count === 0, prefix, HOST_FIELDS, batch.host, batch.host.timestampMs);
    if (end !== off) { off = end; count++; }
  }
  const body = Buffer.allocUnsafe(off);
  scratch.copy(body, 0, 0, off);
  return { body, count };
}

function hostLineWithPoint(batch: MetricBatch): string | undefined {
  if (!batch.host) return undefined;
  const p = new Point(MEASUREMENT.host).tag('host', batch.hostname).tag('agent_id', batch.agentId)
    .timestamp(batch.host.timestampMs);
  return fields(p, HOST_METRICS, hostValues(batch.host)).toLineProtocol();
}

/** The batch's lines, each built with Point (reference for batchToBuffer). */
export function batchToLines(batch: MetricBatch): string[] {
  const lines: string[] = [];
  for (const c of batch.containers) {
    const line = containerLineWithPoint(batch.hostname, c);
    if (line) lines.push(line);
  }
  const hostLine = hostLineWithPoint(batch);
  if (hostLine) lines.push(hostLine);
  return lines;
}

/**
 * A 1-minute rollup row as line protocol: per gauge `<column>_sum` (float) and `<column>_n`
 * (integer), per counter `<column>` (its max): what `SELECT sum(), count(), max() ... GROUP BY
 * time(1m), *` writes, so rows from the stream and rows recomputed from raw points are alike.
 */
export function rollupLine(measurement: string, tagNames: readonly string[], tags: readonly string[], metrics: readonly MetricDef<string>[], row: MinuteRow<unknown>): string | undefined {
  const p = new Point(measurement).timestamp(row.minuteMs);
  tagNames.forEach((name, i) => p.tag(name, tags[i]!));
  metrics.forEach((m, i) => {
    if (!row.counts[i]) return;
    if (m.agg === 'max') p.floatField(m.column, row.maxes[i]!);
    else p.floatField(`${m.column}_sum`, row.sums[i]!).intField(`${m.column}_n`, row.counts[i]!);
  });
  return p.toLineProtocol();
}

export function alertToLine(evt: AlertEvent): string {
  const p = new Point(MEASUREMENT.alert)
    .tag('rule_id', evt.ruleId).tag('severity', evt.severity).tag('state', evt.state)
    .tag('host', evt.host).tag('container_id', evt.containerId)
    .stringField('id', evt.id).stringField('container_name', evt.containerName)
    .stringField('message', evt.message).stringField('context', JSON.stringify(evt.context ?? {}))
    .timestamp(evt.timestampMs);
  if (Number.isFinite(evt.value)) p.floatField('value', evt.value);
  if (Number.isFinite(evt.threshold)) p.floatField('threshold', evt.threshold);
  return p.toLineProtocol()!;
}
