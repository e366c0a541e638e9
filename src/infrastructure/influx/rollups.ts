// 1-minute rollups of the InfluxDB adapter (1.x servers).
// A 24 h chart over raw 1 s points costs InfluxDB 1.x about 17 ms per field (150 ms for a
// container's 9 fields here), so steps of whole minutes read `<measurement>_1m`. Its rows are
// summed from the stream as batches are encoded (domain/minute-rollup.ts) and travel in the
// same spooled write as the raw points; a minute the stream did not provably see whole is
// recomputed from raw points with SELECT ... INTO once those are written, after a grace.
// Earlier versions used a continuous query (RESAMPLE EVERY 1m FOR 10m): it re-read every raw
// point ten times, 3 to 4.5 times the CPU of writing them (decision 005), so it is dropped.
// Rollups keep sum and count for gauges (exact weighted means across buckets) and max for
// counters. The newest RAW_TAIL_MS are always read from raw points.
import { CONTAINER_METRICS, HOST_METRICS, type ContainerMetricKey, type HostMetricKey, type MetricDef } from '../../domain/rollup.js';
import type { Logger } from '../../application/ports.js';
import type { ContainerSample, MetricBatch } from '../../domain/types.js';
import { MinuteRollups, ROLLUP_MINUTE_MS, type RollupOutput } from '../../domain/minute-rollup.js';
import { CONTAINER_TAGS, HOST_TAGS, MEASUREMENT, rollupLine } from './points.js';
import { ident, q, type InfluxQlSeries } from './http.js';
import type { BackfillKey, EncodedWrite } from './records.js';

export const RAW_TAIL_MS = 5 * 60_000;
/** Quiet this long after its minute ended, an open minute is recomputed from raw points. */
const IDLE_MS = 60_000;

export const rollupName = (m: string): string => `${m}_1m`;
const ROLLED = {
  container: { measurement: MEASUREMENT.container, metrics: CONTAINER_METRICS, idTag: 'container_id' },
  host: { measurement: MEASUREMENT.host, metrics: HOST_METRICS, idTag: 'agent_id' },
} as const;
const rollupSelect = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
  ? `max(${ident(m.column)}) AS ${ident(m.column)}`
  : `sum(${ident(m.column)}) AS ${ident(`${m.column}_sum`)}, count(${ident(m.column)}) AS ${ident(`${m.column}_n`)}`)).join(', ');

/** The InfluxQL that recomputes 1-minute rollup rows from raw points over [fromMs, toMs), optionally for some series. */
export function rollupStatement(m: 'container' | 'host', fromMs: number, toMs: number, where?: string): string {
  const r = ROLLED[m];
  return `SELECT ${rollupSelect(r.metrics)} INTO ${ident(rollupName(r.measurement))} FROM ${ident(r.measurement)}
    WHERE ${where ? `(${where}) AND ` : ''}time >= ${fromMs}ms AND time < ${toMs}ms GROUP BY time(1m), *`;
}

/** Reads rollup rows back as the raw query's columns: weighted means from sum and count, max as is. */
export const rollupRead = (metrics: readonly MetricDef<string>[]): string => metrics.map((m) => (m.agg === 'max'
  ? `max(${ident(m.column)}) AS ${ident(m.column)}`
  : `sum(${ident(`${m.column}_sum`)}) / sum(${ident(`${m.column}_n`)}) AS ${ident(m.column)}`)).join(', ');

export interface StreamRollups {
  /** Tells this process's records from an earlier run's. */
  readonly epoch: number;
  /** Adds the rollup rows this batch completed to its encoded lines, and the minutes to recompute. */
  roll(batch: MetricBatch, e: EncodedWrite): void;
  /** After a record's lines are written: queue the minutes it asks to recompute. */
  written(e: EncodedWrite): void;
  /** Recompute every waiting and every open minute now. */
  backfillRollups(): Promise<void>;
  dropContinuousQueries(): Promise<void>;
  stats(): { open: number; waiting: number };
  stop(): void;
}

export function createStreamRollups(o: {
  influxql: (query: string, opts?: { post?: boolean; db?: boolean }) => Promise<InfluxQlSeries[]>;
  bucket: string; log?: Logger; disabled: boolean; graceMs: number; backfillEveryMs: number;
  /** Rollups are written and read (a 1.x server). */
  rollupsOn(): boolean;
  /** Encoded batches are rolled up: rollupsOn, or not known yet. */
  aggregating(): boolean;
}): StreamRollups {
  const { influxql, log, graceMs } = o;

  const containerRollups = new MinuteRollups<ContainerMetricKey, ContainerSample>(CONTAINER_METRICS);
  const hostRollups = new MinuteRollups<HostMetricKey, string>(HOST_METRICS); // series: the agent id
  const epoch = (Math.floor(Math.random() * 0xffff_fffe) + 1) >>> 0;
  let lastSweepMs = Date.now();
  let lastEncodeMs = Date.now();

  const outputs = (): { c: RollupOutput<ContainerSample>; h: RollupOutput<string> } =>
    ({ c: { rows: [], uncertain: [] }, h: { rows: [], uncertain: [] } });
  /** The minutes both aggregators could not roll up themselves, as backfill requests. */
  const backfillKeys = (c: RollupOutput<ContainerSample>, h: RollupOutput<string>): BackfillKey[] => [
    ...c.uncertain.map((u) => ({ m: 'container' as const, host: u.group, id: u.series.id, t: u.minuteMs })),
    ...h.uncertain.map((u) => ({ m: 'host' as const, host: u.group, id: u.series, t: u.minuteMs })),
  ];
  function sweep(nowMs: number, c: RollupOutput<ContainerSample>, h: RollupOutput<string>): void {
    containerRollups.sweep(nowMs, IDLE_MS, c);
    hostRollups.sweep(nowMs, IDLE_MS, h);
  }

  /** Rows the stream completed (as lines) and the minutes to recompute, for one batch. */
  function rollUp(batch: MetricBatch, nowMs: number): { lines: string[]; backfill: BackfillKey[] } {
    const { c, h } = outputs();
    // An agent's samples are `intervalMs` apart; half an interval more allows for jitter, and a
    // missed sample (twice the interval) still shows as a gap.
    const gapMs = batch.intervalMs > 0 ? batch.intervalMs * 1.5 : 0;
    for (const x of batch.containers) containerRollups.add(batch.hostname, x.id, x, x.timestampMs, x, gapMs, c);
    if (batch.host) hostRollups.add(batch.hostname, batch.agentId, batch.agentId, batch.host.timestampMs, batch.host, gapMs, h);
    if (nowMs - lastSweepMs >= 5000) {
      lastSweepMs = nowMs;
      sweep(nowMs, c, h);
    }
    const lines: string[] = [];
    for (const r of c.rows) {
      const line = rollupLine(rollupName(MEASUREMENT.container), CONTAINER_TAGS, [r.group, r.series.id, r.series.name, r.series.image], CONTAINER_METRICS, r);
      if (line) lines.push(line);
    }
    for (const r of h.rows) {
      const line = rollupLine(rollupName(MEASUREMENT.host), HOST_TAGS, [r.group, r.series], HOST_METRICS, r);
      if (line) lines.push(line);
    }
    return { lines, backfill: backfillKeys(c, h) };
  }

  // Minutes waiting to be recomputed from raw points: one series' minute, or (records of an
  // earlier version, the minutes around a restart) every series over a range.
  interface Backfill { m: 'container' | 'host'; fromMs: number; toMs: number; series?: { host: string; id: string }; dueMs: number }
  let backfills: Backfill[] = [];
  const queueSeries = (k: BackfillKey, dueMs: number): void => { backfills.push({ m: k.m, fromMs: k.t, toMs: k.t + ROLLUP_MINUTE_MS, series: { host: k.host, id: k.id }, dueMs }); };
  const queueRange = (fromMs: number, toMs: number, dueMs: number): void => {
    const from = Math.floor(fromMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS;
    const to = Math.floor(toMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS + ROLLUP_MINUTE_MS;
    for (const m of ['container', 'host'] as const) {
      // One waiting range per measurement, widened: a spool of old records asks once, not per record.
      const waiting = backfills.find((b) => !b.series && b.m === m);
      if (waiting) Object.assign(waiting, { fromMs: Math.min(waiting.fromMs, from), toMs: Math.max(waiting.toMs, to), dueMs: Math.max(waiting.dueMs, dueMs) });
      else backfills.push({ m, fromMs: from, toMs: to, dueMs });
    }
  };
  // The minutes around this start: an earlier process may have died with minutes open. They
  // are recomputed once this process's own first write landed (every older spooled record,
  // written in order, is in by then) or five minutes after start, whichever comes first.
  const startedMs = Date.now();
  let startupQueued = false;
  function queueStartup(dueMs: number): void {
    if (startupQueued || o.disabled) return;
    startupQueued = true;
    queueRange(startedMs - 5 * ROLLUP_MINUTE_MS, startedMs, dueMs);
  }

  /** The SELECT ... INTO statements for a set of due backfills. */
  function backfillStatements(due: Backfill[]): string[] {
    const out: string[] = [];
    // Measurement and minute -> its series (host and id), each once.
    const perMinute = new Map<string, Map<string, Backfill>>();
    for (const b of due) {
      if (!b.series) {
        for (let t = b.fromMs; t < b.toMs; t += 10 * ROLLUP_MINUTE_MS) out.push(rollupStatement(b.m, t, Math.min(b.toMs, t + 10 * ROLLUP_MINUTE_MS)));
        continue;
      }
      const key = `${b.m} ${b.fromMs}`;
      const series = perMinute.get(key) ?? new Map<string, Backfill>();
      const id = `${b.series.host}\n${b.series.id}`;
      if (!series.has(id)) series.set(id, b);
      perMinute.set(key, series);
    }
    for (const series of perMinute.values()) {
      const list = [...series.values()];
      const { m, fromMs, toMs } = list[0]!;
      // Past a few dozen series one pass over the whole minute is cheaper than the conditions.
      if (list.length > 50) { out.push(rollupStatement(m, fromMs, toMs)); continue; }
      const r = ROLLED[m];
      const which = list.map((b) => `(${ident('host')} = ${q(b.series!.host)} AND ${ident(r.idTag)} = ${q(b.series!.id)})`).join(' OR ');
      out.push(rollupStatement(m, fromMs, toMs, which));
    }
    return out;
  }

  let backfilling: Promise<void> | undefined;
  /** Recomputes the due minutes (all of them with `all`); what fails stays queued for the next round. */
  function runBackfills(all: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (!o.rollupsOn()) return;
      const now = Date.now();
      const due = backfills.filter((b) => all || b.dueMs <= now);
      if (due.length === 0) return;
      const taken = new Set(due);
      backfills = backfills.filter((b) => !taken.has(b));
      const statements = backfillStatements(due);
      for (let i = 0; i < statements.length; i++) {
        try {
          await influxql(statements[i]!, { post: true });
        } catch (err) {
          backfills.push(...due); // recomputing is idempotent: simply try them all again
          throw err;
        }
      }
    };
    // One round at a time; the caller gets this round's outcome, the chain never rejects.
    const p = (backfilling ?? Promise.resolve()).then(run);
    const settled: Promise<void> = p.catch(() => undefined).finally(() => { if (backfilling === settled) backfilling = undefined; });
    backfilling = settled;
    return p;
  }

  async function backfillRollups(): Promise<void> {
    const { c, h } = outputs();
    containerRollups.drainAll(c);
    hostRollups.drainAll(h);
    for (const k of backfillKeys(c, h)) queueSeries(k, 0);
    await runBackfills(true);
  }
  const backfillTimer = setInterval(() => {
    // A stream gone quiet leaves minutes open with no batch to carry them: queue them here.
    const now = Date.now();
    if (now - lastEncodeMs > IDLE_MS) {
      const { c, h } = outputs();
      sweep(now, c, h);
      for (const k of backfillKeys(c, h)) queueSeries(k, now + graceMs);
    }
    if (now - startedMs > 5 * ROLLUP_MINUTE_MS) queueStartup(now + graceMs);
    runBackfills(false).catch((err) => { log?.warn({ reason: (err as Error).message }, 'rollup backfill failed; will retry'); });
  }, o.backfillEveryMs);
  backfillTimer.unref();

  return {
    epoch,
    roll(batch, e) {
      lastEncodeMs = Date.now();
      e.rolled = true;
      const { lines, backfill } = rollUp(batch, lastEncodeMs);
      if (lines.length > 0) {
        e.body = Buffer.concat([e.body, Buffer.from(`${e.count > 0 ? '\n' : ''}${lines.join('\n')}`)]);
        e.count += lines.length;
      }
      if (backfill.length > 0) e.backfill = backfill;
    },
    written(e) {
      const due = Date.now() + graceMs;
      // A record of an older version carries no rollups: recompute the minutes it touched.
      if (!e.rolled && e.minTs > 0) queueRange(e.minTs, Date.now(), due);
      if (e.epoch === epoch) queueStartup(due);
      for (const k of e.backfill ?? []) queueSeries(k, due);
    },
    backfillRollups,
    /** Continuous queries an earlier version created: they would redo, at great cost, what the stream does now. */
    async dropContinuousQueries() {
      for (const r of Object.values(ROLLED)) {
        await influxql(`DROP CONTINUOUS QUERY ${ident(`dw_${r.measurement}_1m`)} ON ${ident(o.bucket)}`, { post: true, db: false })
          .then(() => log?.info({ name: `dw_${r.measurement}_1m` }, 'dropped the continuous query of an earlier version: rollups are computed from the stream'))
          .catch(() => undefined); // absent (the usual case) or no right
      }
    },
    stats: () => ({ open: containerRollups.size() + hostRollups.size(), waiting: backfills.length }),
    stop: () => clearInterval(backfillTimer),
  };
}
