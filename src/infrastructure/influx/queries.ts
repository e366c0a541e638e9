// Reads of the InfluxDB adapter: InfluxQL over /query (GROUP BY time(step)); no Flux, which 3.x
// dropped. Whole-minute steps older than the raw tail read the 1-minute rollups (rollups.ts).
import { CONTAINER_METRICS, HOST_METRICS, type MetricDef, type SeriesPoint } from '../../domain/rollup.js';
import type { AlertEvent, AlertQuery, ContainerRangeQuery, HostRangeQuery, LatestPoint, MetricsStore } from '../../application/store-ports.js';
import { ROLLUP_MINUTE_MS } from '../../domain/minute-rollup.js';
import { MEASUREMENT } from './points.js';
import { ident, q, type InfluxQlSeries } from './http.js';
import { RAW_TAIL_MS, rollupName, rollupRead } from './rollups.js';

type Reads = Pick<MetricsStore, 'queryContainer' | 'queryHost' | 'latestContainer' | 'hasContainer' | 'hasHost' | 'queryAlerts'>;

function selectList(metrics: readonly MetricDef<string>[]): string {
  return metrics.map((m) => `${m.agg === 'max' ? 'max' : 'mean'}(${ident(m.column)}) AS ${ident(m.column)}`).join(', ');
}

function toPoints(series: InfluxQlSeries[], metrics: readonly MetricDef<string>[]): SeriesPoint[] {
  const s = series[0];
  if (!s) return [];
  const idx = new Map(s.columns.map((c, i) => [c, i]));
  return s.values.map((row) => {
    const values: Record<string, number | null> = {};
    for (const m of metrics) {
      const v = row[idx.get(m.column) ?? -1];
      values[m.key] = typeof v === 'number' ? v : null;
    }
    return { timestampMs: Number(row[0]), values };
  });
}

// The id may be the hostname or the agent id.
export const hostWhere = (hostId: string): string => `(${ident('host')} = ${q(hostId)} OR ${ident('agent_id')} = ${q(hostId)})`;

export function createInfluxReads(o: {
  ready(): Promise<unknown>;
  influxql(query: string): Promise<InfluxQlSeries[]>;
  rollupsOn(): boolean;
  knownContainers: Set<string>;
  knownHosts: Set<string>;
}): Reads {
  const { ready, influxql, knownContainers, knownHosts } = o;

  async function rangeQuery(measurement: string, where: string, metrics: readonly MetricDef<string>[], fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    await ready();
    const step = Math.max(1, Math.round(stepMs));
    const raw = async (from: number, to: number): Promise<SeriesPoint[]> => toPoints(await influxql(`SELECT ${selectList(metrics)}
      FROM ${ident(measurement)} WHERE ${where} AND time >= ${Math.floor(from)}ms AND time <= ${Math.floor(to)}ms
      GROUP BY time(${step}ms) fill(none)`), metrics);
    const split = Math.floor((Date.now() - RAW_TAIL_MS) / step) * step;
    if (!o.rollupsOn() || step % ROLLUP_MINUTE_MS !== 0 || fromMs >= split) return raw(fromMs, toMs);
    const rolledTo = Math.min(split, toMs + 1);
    const [older, newer] = await Promise.all([
      influxql(`SELECT ${rollupRead(metrics)} FROM ${ident(rollupName(measurement))} WHERE ${where}
        AND time >= ${Math.floor(fromMs / ROLLUP_MINUTE_MS) * ROLLUP_MINUTE_MS}ms AND time < ${Math.floor(rolledTo)}ms
        GROUP BY time(${step}ms) fill(none)`).then((sr) => toPoints(sr, metrics)),
      toMs >= split ? raw(split, toMs) : Promise.resolve([]),
    ]);
    return [...older, ...newer];
  }

  return {
    queryContainer: (r: ContainerRangeQuery) =>
      rangeQuery(MEASUREMENT.container, `${ident('container_id')} = ${q(r.containerId)}`, CONTAINER_METRICS, r.fromMs, r.toMs, r.stepMs),
    queryHost: async (r: HostRangeQuery) =>
      rangeQuery(MEASUREMENT.host, hostWhere(r.hostId), HOST_METRICS, r.fromMs, r.toMs, r.stepMs),
    async latestContainer(id): Promise<LatestPoint | null> {
      await ready();
      const series = await influxql(`SELECT * FROM ${ident(MEASUREMENT.container)} WHERE ${ident('container_id')} = ${q(id)} ORDER BY time DESC LIMIT 1`);
      const s = series[0];
      const row = s?.values[0];
      if (!s || !row) return null;
      const values: Record<string, number> = {};
      s.columns.forEach((c, i) => {
        const m = CONTAINER_METRICS.find((x) => x.column === c);
        if (m && typeof row[i] === 'number') values[m.key] = row[i] as number;
      });
      return { timestampMs: Number(row[0]), values };
    },
    async hasContainer(id) {
      if (knownContainers.has(id)) return true;
      await ready();
      const series = await influxql(`SHOW TAG VALUES FROM ${ident(MEASUREMENT.container)} WITH KEY = ${ident('container_id')} WHERE ${ident('container_id')} = ${q(id)}`);
      const found = series.some((s) => s.values.length > 0);
      if (found) knownContainers.add(id);
      return found;
    },
    async hasHost(id) {
      if (knownHosts.has(id)) return true;
      await ready();
      const series = await influxql(`SELECT last(${ident('cpu_percent')}) FROM ${ident(MEASUREMENT.host)} WHERE ${hostWhere(id)}`);
      const found = series.some((s) => s.values.length > 0);
      if (found) knownHosts.add(id);
      return found;
    },
    async queryAlerts(r: AlertQuery): Promise<AlertEvent[]> {
      await ready();
      const stateCond = r.state ? ` AND ${ident('state')} = ${q(r.state)}` : '';
      const series = await influxql(`SELECT * FROM ${ident(MEASUREMENT.alert)} WHERE time >= ${Math.floor(r.fromMs)}ms
        AND time <= ${Math.floor(r.toMs)}ms${stateCond} ORDER BY time DESC LIMIT ${Math.max(1, Math.floor(r.limit ?? 1000))}`);
      const s = series[0];
      if (!s) return [];
      const idx = new Map(s.columns.map((c, i) => [c, i]));
      const get = (row: unknown[], c: string): unknown => row[idx.get(c) ?? -1];
      return s.values.map((row) => {
        let context: Record<string, unknown> = {};
        try { context = JSON.parse(String(get(row, 'context') ?? '{}')) as Record<string, unknown>; } catch { /* keep empty */ }
        return {
          id: String(get(row, 'id') ?? ''), ruleId: String(get(row, 'rule_id') ?? ''), severity: String(get(row, 'severity') ?? ''),
          state: get(row, 'state') === 'resolved' ? 'resolved' : 'firing', host: String(get(row, 'host') ?? ''),
          containerId: String(get(row, 'container_id') ?? ''), containerName: String(get(row, 'container_name') ?? ''),
          value: Number(get(row, 'value') ?? NaN), threshold: Number(get(row, 'threshold') ?? NaN),
          message: String(get(row, 'message') ?? ''), timestampMs: Number(row[0]), context,
        } satisfies AlertEvent;
      });
    },
  };
}
