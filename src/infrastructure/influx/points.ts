// Batch -> InfluxDB line protocol, built with the client library's Point class.
// Schema:
//   container  tags: host, container_id, container_name, image   fields: one float per metric
//   host       tags: host, agent_id                               fields: one float per metric
//   alert      tags: rule_id, severity, state, host, container_id fields: id, container_name,
//              value, threshold, message, context (JSON)
// Every numeric field is a float, always, so a field never changes type between writes.
// Timestamps are in ms (precision=ms): same tags and timestamp overwrite = idempotent writes.
import { Point } from '@influxdata/influxdb-client';
import type { MetricBatch } from '../../domain/types.js';
import { containerValues, CONTAINER_METRICS, hostValues, HOST_METRICS } from '../../domain/rollup.js';
import type { AlertEvent } from '../../application/store-ports.js';

export const MEASUREMENT = { container: 'container', host: 'host', alert: 'alert' } as const;

function fields(p: Point, metrics: readonly { key: string; column: string }[], vals: Record<string, number>): Point {
  for (const m of metrics) {
    const v = vals[m.key];
    if (v !== undefined && Number.isFinite(v)) p.floatField(m.column, v);
  }
  return p;
}

export function batchToLines(batch: MetricBatch): string[] {
  const lines: string[] = [];
  for (const c of batch.containers) {
    const p = new Point(MEASUREMENT.container)
      .tag('host', batch.hostname).tag('container_id', c.id).tag('container_name', c.name).tag('image', c.image)
      .timestamp(c.timestampMs);
    const line = fields(p, CONTAINER_METRICS, containerValues(c)).toLineProtocol();
    if (line) lines.push(line);
  }
  if (batch.host) {
    const p = new Point(MEASUREMENT.host).tag('host', batch.hostname).tag('agent_id', batch.agentId)
      .timestamp(batch.host.timestampMs);
    const line = fields(p, HOST_METRICS, hostValues(batch.host)).toLineProtocol();
    if (line) lines.push(line);
  }
  return lines;
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
