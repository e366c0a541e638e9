// Prometheus exporter built on prom-client. Container and host series are read from the
// LatestStore at scrape time (no state kept between scrapes, so nothing piles up); the
// system's own health comes from counters the other parts bump through `record` and from
// gauges read through callbacks at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { LatestStore } from '../../application/ports.js';
import type { AckStatus } from '../../domain/types.js';
import {
  CONTAINER_FAMILIES, HOST_FAMILIES, dedupeSeries, takeSnapshot,
} from './families.js';
import type { FamilyDef, Snapshot } from './families.js';
import { checkLabelPrefix } from './labels.js';

export type BreakerState = 'closed' | 'open' | 'halfOpen';
export type DropReason = 'agent_queue' | 'slow_subscriber';

export const DEFAULT_LABEL_PREFIX = 'container_label_';
export const DEFAULT_STALE_AFTER_MS = 120_000;

export interface MetricsExporterOptions {
  /** The server's latest samples; leave out in a process that has none (the agent). */
  latest?: LatestStore;
  /** Prefix of Docker labels as Prometheus labels (default "container_label_", as cAdvisor). */
  labelPrefix?: string;
  /** Containers and hosts not seen for this long leave the output (default 120000; 0 = never). */
  staleAfterMs?: number;
  /** Node process metrics (prom-client defaults) on or off (default on). */
  processMetrics?: boolean;
  /** Prefix for the Node process metrics (default "": the standard process_* and nodejs_* names). */
  processMetricsPrefix?: string;
  /** Notification channels whose counters should exist (at 0) before their first message. */
  channels?: readonly string[];
  // Gauges read at scrape time. A gauge whose callback is not given is not exported.
  breakerState?: () => BreakerState;
  spoolBatches?: () => number;
  agentQueue?: () => number;
  wsSubscribers?: () => number;
  grpcSubscribers?: () => number;
  /** Agent samples received and not yet acked (bounded by INGEST_MAX_IN_FLIGHT_SAMPLES). */
  ingestInFlightSamples?: () => number;
  /** Cumulative samples dropped for slow subscribers when the bus counts them itself (MemoryBus.stats().dropped). */
  slowSubscriberDropped?: () => number;
  now?: () => number;
}

export interface MetricsRecorder {
  /** One agent batch answered with this status. */
  batch(status: AckStatus): void;
  /** Container samples accepted by ingest. */
  samples(n: number): void;
  dropped(reason: DropReason, n: number): void;
  alertFired(): void;
  /** One notification attempt; ok = sent, !ok = failed. */
  notification(channel: string, ok: boolean): void;
}

export interface MetricsExporter {
  registry: Registry;
  /** The Content-Type header for `render()`'s text. */
  contentType: string;
  render(): Promise<string>;
  record: MetricsRecorder;
  counters: {
    ingestedSamples: Counter;
    batches: Counter<'status'>;
    samplesDropped: Counter<'reason'>;
    alertsFired: Counter;
    notifications: Counter<'channel' | 'result'>;
  };
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, halfOpen: 1, open: 2 };

export function createMetricsExporter(opts: MetricsExporterOptions = {}): MetricsExporter {
  const labelPrefix = checkLabelPrefix(opts.labelPrefix ?? DEFAULT_LABEL_PREFIX);
  const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const now = opts.now ?? Date.now;
  const registry = new Registry();

  // One snapshot serves every family of one scrape, so all series agree with each other.
  let current: Snapshot | null = null;
  const snapshot = (): Snapshot => current ?? readSnapshot();
  const readSnapshot = (): Snapshot => opts.latest
    ? takeSnapshot(opts.latest.containers(), opts.latest.hosts(), { labelPrefix, staleAfterMs, nowMs: now() })
    : { containers: [], hosts: [] };

  if (opts.latest) {
    for (const def of [...CONTAINER_FAMILIES, ...HOST_FAMILIES]) registerFamily(registry, def, snapshot);
  }

  const ingestedSamples = new Counter({
    name: 'dockwatch_ingested_samples_total',
    help: 'Container samples accepted from agents.',
    registers: [registry],
  });
  const batches = new Counter({
    name: 'dockwatch_batches_total',
    help: 'Agent batches answered, by status (ack, duplicate, rejected).',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  for (const status of ['ack', 'duplicate', 'rejected'] as const) batches.inc({ status }, 0);

  const droppedRecorded: Record<DropReason, number> = { agent_queue: 0, slow_subscriber: 0 };
  const samplesDropped = new Counter({
    name: 'dockwatch_samples_dropped_total',
    help: 'Samples dropped: agent_queue = agent buffer full, slow_subscriber = a live subscriber fell behind.',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      // Recorded increments plus what the bus counts itself, set as one cumulative value.
      this.reset();
      const extra = opts.slowSubscriberDropped?.() ?? 0;
      this.inc({ reason: 'agent_queue' }, droppedRecorded.agent_queue);
      this.inc({ reason: 'slow_subscriber' }, droppedRecorded.slow_subscriber + (extra > 0 ? extra : 0));
    },
  });
  const alertsFired = new Counter({
    name: 'dockwatch_alerts_fired_total',
    help: 'Alerts that fired (a rule went from ok to firing).',
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'dockwatch_notifications_total',
    help: 'Notification attempts per channel, by result (sent, failed).',
    labelNames: ['channel', 'result'] as const,
    registers: [registry],
  });
  for (const channel of opts.channels ?? []) {
    notifications.inc({ channel, result: 'sent' }, 0);
    notifications.inc({ channel, result: 'failed' }, 0);
  }

  callbackGauge(registry, 'dockwatch_store_circuit_state', 'State of the store circuit breaker: 0 closed, 1 half-open, 2 open.',
    opts.breakerState && (() => BREAKER_VALUE[opts.breakerState!()] ?? 2));
  callbackGauge(registry, 'dockwatch_spool_batches', 'Acked batches in the on-disk spool, not yet written to InfluxDB.', opts.spoolBatches);
  callbackGauge(registry, 'dockwatch_agent_queue_batches', 'Batches waiting in the agent\'s in-memory send queue.', opts.agentQueue);
  callbackGauge(registry, 'dockwatch_ws_subscribers', 'Open WebSocket live subscriptions.', opts.wsSubscribers);
  callbackGauge(registry, 'dockwatch_grpc_subscribers', 'Open SubscribeToMetrics streams.', opts.grpcSubscribers);
  callbackGauge(registry, 'dockwatch_ingest_in_flight_samples',
    'Agent samples received and not yet acked; near INGEST_MAX_IN_FLIGHT_SAMPLES the server is holding agents back.', opts.ingestInFlightSamples);

  if (opts.processMetrics !== false) {
    const prefix = opts.processMetricsPrefix ?? '';
    collectDefaultMetrics({ register: registry, prefix });
    // These three are gauges named like counters, which promtool (and recording rules that
    // rate() every *_total) trip over; they only repeat sum(nodejs_active_handles) etc.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(`${prefix}${name}`);
    }
  }

  const positive = (n: number): number => (Number.isFinite(n) && n > 0 ? n : 0);
  const record: MetricsRecorder = {
    batch: (status) => batches.inc({ status }),
    samples: (n) => ingestedSamples.inc(positive(n)),
    dropped: (reason, n) => { droppedRecorded[reason] += positive(n); },
    alertFired: () => alertsFired.inc(),
    notification: (channel, ok) => notifications.inc({ channel, result: ok ? 'sent' : 'failed' }),
  };

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      current = readSnapshot();
      try {
        return await registry.metrics();
      } finally {
        current = null;
      }
    },
    record,
    counters: { ingestedSamples, batches, samplesDropped, alertsFired, notifications },
  };
}

function callbackGauge(registry: Registry, name: string, help: string, read: (() => number) | undefined): void {
  if (!read) return;
  new Gauge({
    name, help, registers: [registry],
    collect() {
      const v = read();
      this.set(Number.isFinite(v) ? v : 0);
    },
  });
}

/**
 * Container and host families carry Docker labels whose names differ from container to
 * container, which prom-client's Gauge/Counter (fixed labelNames) cannot express. The registry
 * only needs name/help/type and get(), so these are registered as plain metric objects.
 */
function registerFamily(registry: Registry, def: FamilyDef, snapshot: () => Snapshot): void {
  const metric = {
    name: def.name,
    help: def.help,
    type: def.type,
    aggregator: 'sum',
    collect: () => undefined,
    reset: () => undefined,
    get: async () => ({
      name: def.name,
      help: def.help,
      type: def.type,
      aggregator: 'sum',
      values: dedupeSeries(def.series(snapshot())),
    }),
  };
  registry.registerMetric(metric as unknown as Metric);
}
