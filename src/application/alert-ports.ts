// Ports of the alerting area. Narrow on purpose: each lists only the calls alerting makes.
import type { AlertEvent } from '../domain/alerts/evaluate.js';

export type { AlertEvent };

/** Hands an alert to the notifier workers (a Redis stream, or in-process without Redis). */
export interface AlertPublisher {
  publish(event: AlertEvent): Promise<void>;
}

/**
 * A shared "first one wins" gate: true when this caller took the key for ttlMs, false when
 * someone (this or another replica) holds it. Throws when the backing store is unreachable.
 */
export interface Cooldown {
  tryAcquire(key: string, ttlMs: number): Promise<boolean>;
}

/** An alert event as the store returns it: the domain event, with severity and context loosely typed. */
export type StoredAlert = Omit<AlertEvent, 'severity' | 'context'> & { severity: string; context?: Record<string, unknown> };

export interface AlertQuery {
  state?: 'firing' | 'resolved';
  fromMs: number;
  toMs: number;
  limit?: number;
}

/** The two calls of the metrics store alerting uses (MetricsStore satisfies it). */
export interface AlertHistory {
  writeAlertEvent(evt: AlertEvent): Promise<void>;
  queryAlerts(q: AlertQuery): Promise<StoredAlert[]>;
}

// ---------- notifications ----------

export interface ContainerCount { state: string; count: number }

export interface TopConsumer { host: string; containerId: string; containerName: string; value: number }

export interface Digest {
  serverId: string;
  fromMs: number;
  toMs: number;
  hosts: { hostname: string; containers: number; lastSeenMs: number }[];
  containersByState: Record<string, number>;
  topCpu: TopConsumer[];
  topMemory: TopConsumer[];
  alertsFired: number;
  alertsResolved: number;
}

export interface Heartbeat {
  serverId: string;
  timestampMs: number;
  agentsConnected: number;
  samplesPerSecond: number;
  firingAlerts: number;
}

export type Notification =
  | { kind: 'alert'; alert: AlertEvent }
  | { kind: 'digest'; digest: Digest }
  | { kind: 'lifecycle'; event: 'start' | 'stop'; serverId: string; timestampMs: number; message: string }
  | { kind: 'action'; action: ActionNotice };

/** Something Dockwatch did (autoheal), worded like the lifecycle notices; always sent to every channel. */
export interface ActionNotice {
  /** e.g. autoheal.restart, autoheal.gave_up */
  action: string;
  /** requested, ok, failed, refused */
  outcome: string;
  host: string;
  containerId: string;
  containerName: string;
  message: string;
  timestampMs: number;
}

/** Delivers one notification to every configured channel; never throws for a channel's failure. */
export interface NotificationSink {
  deliver(n: Notification): Promise<void>;
}
