// Container lifecycle events in InfluxDB: measurement `container_event`, tags host, agent_id,
// container_id, container_name, action; fields exit_code (integer) and health (string); the event's own
// timestamp (ms). They ride in the batch's lines (store.ts), so they pass the spool, breaker and
// retries with the samples, and a resend writes the same point again (same tags and timestamp):
// an event is stored once. Retention: the database's or bucket's, as for the samples.
import { Point } from '@influxdata/influxdb-client';
import type { EventQuery, StoredContainerEvent } from '../../application/store-ports.js';
import type { MetricBatch } from '../../domain/types.js';
import { ident, q, type InfluxQlSeries } from './http.js';
import { hostWhere } from './queries.js';

export const EVENT_MEASUREMENT = 'container_event';

/** The batch's events as newline-separated line protocol, and how many lines. */
export function eventLines(batch: MetricBatch): { text: string; count: number } {
  const lines = batch.events.map((e) => new Point(EVENT_MEASUREMENT)
    .tag('host', batch.hostname).tag('agent_id', batch.agentId).tag('container_id', e.containerId).tag('container_name', e.containerName).tag('action', e.action)
    .intField('exit_code', e.exitCode).stringField('health', e.health)
    .timestamp(e.timestampMs).toLineProtocol()!);
  return { text: lines.join('\n'), count: lines.length };
}

/** Appends the batch's event lines to its encoded sample lines (events are rare: usually none). */
export function withEventLines(encoded: { body: Buffer; count: number }, batch: MetricBatch): { body: Buffer; count: number } {
  if (batch.events.length === 0) return encoded;
  const { text, count } = eventLines(batch);
  const sep = encoded.count > 0 ? '\n' : '';
  return { body: Buffer.concat([encoded.body, Buffer.from(sep + text)]), count: encoded.count + count };
}

export function createEventReads(o: { ready(): Promise<unknown>; influxql(query: string): Promise<InfluxQlSeries[]> }) {
  return async function queryEvents(r: EventQuery): Promise<StoredContainerEvent[]> {
    if (r.actions && r.actions.length === 0) return [];
    await o.ready();
    const who = r.containerId !== undefined ? `${ident('container_id')} = ${q(r.containerId)}` : hostWhere(r.host ?? '');
    const actions = r.actions ? ` AND (${r.actions.map((a) => `${ident('action')} = ${q(a)}`).join(' OR ')})` : '';
    const series = await o.influxql(`SELECT * FROM ${ident(EVENT_MEASUREMENT)} WHERE ${who}
      AND time >= ${Math.floor(r.fromMs)}ms AND time <= ${Math.floor(r.toMs)}ms${actions} ORDER BY time ASC LIMIT ${Math.max(1, Math.floor(r.limit))}`);
    const s = series[0];
    if (!s) return [];
    const idx = new Map(s.columns.map((c, i) => [c, i]));
    const get = (row: unknown[], c: string): unknown => row[idx.get(c) ?? -1];
    return s.values.map((row) => ({
      host: String(get(row, 'host') ?? ''), containerId: String(get(row, 'container_id') ?? ''),
      containerName: String(get(row, 'container_name') ?? ''), action: String(get(row, 'action') ?? ''),
      timestampMs: Number(row[0]), exitCode: Number(get(row, 'exit_code') ?? 0), health: String(get(row, 'health') ?? ''),
    }));
  };
}
