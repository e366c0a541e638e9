// The metrics store port of the server: durable writes of agent batches (their samples and
// container lifecycle events), history reads aggregated per step, stored lifecycle events, and
// alert events. Implemented by the embedded SQLite store and the
// InfluxDB adapter (optionally wrapped by the resilient store: breaker, retries, spool).
import type { AlertQuery, StoredAlert } from './alert-ports.js';
import type { ContainerEvent, MetricBatch } from '../domain/types.js';
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

/**
 * A container lifecycle event as stored: the agent's ContainerEvent (start, die, restart, oom,
 * health_status...) without its raw Engine attributes, and the host it came from.
 */
export type StoredContainerEvent = Omit<ContainerEvent, 'attributes'> & { host: string };

/** One container's events, or every container event of one host; oldest first. */
export interface EventQuery {
  /** By container id... */
  containerId?: string;
  /** ...or by host (the hostname, the `host` tag). */
  host?: string;
  fromMs: number;
  toMs: number;
  /** Only these actions; every action when absent. */
  actions?: readonly string[];
  limit: number;
}

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
  /**
   * Resolves once the batch (samples and events) is durable. Idempotent: same series and
   * timestamp = same point; the same event (container, action, timestamp) is stored once.
   */
  writeBatch(batch: MetricBatch): Promise<void>;
  queryContainer(q: ContainerRangeQuery): Promise<SeriesPoint[]>;
  queryHost(q: HostRangeQuery): Promise<SeriesPoint[]>;
  /** The newest stored point of a container, null when none. */
  latestContainer(containerId: string): Promise<LatestPoint | null>;
  hasContainer(containerId: string): Promise<boolean>;
  hasHost(hostId: string): Promise<boolean>;
  queryEvents(q: EventQuery): Promise<StoredContainerEvent[]>;
  writeAlertEvent(evt: AlertEvent): Promise<void>;
  queryAlerts(q: AlertQuery): Promise<AlertEvent[]>;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/** The read side only: what the history routes need. */
export type HistoryReader = Pick<MetricsStore, 'queryContainer' | 'queryHost' | 'hasContainer' | 'hasHost'>;
/** What the event routes need. */
export type EventReader = Pick<MetricsStore, 'queryEvents' | 'hasContainer' | 'hasHost'>;
