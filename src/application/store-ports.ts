// The metrics store port of the server: durable writes of agent batches, history reads
// aggregated per step, and alert events. Implemented by the embedded SQLite store and the
// InfluxDB adapter (optionally wrapped by the resilient store: breaker, retries, spool).
import type { AlertQuery, StoredAlert } from './alert-ports.js';
import type { MetricBatch } from '../domain/types.js';
import type { SeriesPoint } from '../domain/rollup.js';

export type { SeriesPoint };

export interface ContainerRangeQuery {
  containerId: string;
  fromMs: number;
  toMs: number;
  stepMs: number;
}

export interface HostRangeQuery {
  /** Hostname (the `host` tag) or agent id. */
  hostId: string;
  fromMs: number;
  toMs: number;
  stepMs: number;
}

// The stored alert event and its query are the alerting area's shapes: one definition each.
export type { AlertQuery };
export type AlertEvent = StoredAlert;

export interface LatestPoint {
  timestampMs: number;
  values: Record<string, number>;
}

export interface StoreHealth {
  backend: 'sqlite' | 'influxdb';
  ok: boolean;
  /** Extra, backend specific figures (breaker state, spool size, version...). */
  [key: string]: unknown;
}

export interface MetricsStore {
  /** Resolves once the batch is durable. Idempotent: same series and timestamp = same point. */
  writeBatch(batch: MetricBatch): Promise<void>;
  queryContainer(q: ContainerRangeQuery): Promise<SeriesPoint[]>;
  queryHost(q: HostRangeQuery): Promise<SeriesPoint[]>;
  /** The newest stored point of a container, null when none. */
  latestContainer(containerId: string): Promise<LatestPoint | null>;
  hasContainer(containerId: string): Promise<boolean>;
  hasHost(hostId: string): Promise<boolean>;
  writeAlertEvent(evt: AlertEvent): Promise<void>;
  queryAlerts(q: AlertQuery): Promise<AlertEvent[]>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/** The read side only: what the history routes need. */
export type HistoryReader = Pick<MetricsStore, 'queryContainer' | 'queryHost' | 'hasContainer' | 'hasHost'>;
