// Ports: the narrow interfaces the use cases need. Adapters in src/infrastructure
// implement them; composition roots wire them. Each lists only the calls used.
import type {
  BatchAck, ContainerEvent, HostInfo, HostSample, HostedContainerSample, MetricBatch,
} from '../domain/types.js';
import type { ContainerMeta, UsageCounters } from '../domain/container-math.js';

// ---------- agent side ----------

/** What a container runtime (Docker Engine, ECS task metadata) tells about one container. */
export interface ContainerInfo extends ContainerMeta {
  /** Host PID of the container's init process, 0 when not running or unknown. */
  pid: number;
  /** HostConfig.CgroupParent, '' for the default. */
  cgroupParent: string;
}

/**
 * Raw cumulative counters of one container at one instant; rates come from two of these
 * (src/domain/container-math.ts documents each counter).
 */
export interface RawUsage extends UsageCounters {
  source: 'cgroup' | 'engine-api' | 'ecs';
}

export interface ContainerRuntime {
  /** Every container, running or not. */
  listContainers(): Promise<ContainerInfo[]>;
  /** Follows lifecycle events until the returned function is called; reconnects by itself. */
  watchEvents(onEvent: (event: ContainerEvent) => void): () => void;
  /** Last lines of a container's log, for alert context. */
  tailLogs?(id: string, lines: number): Promise<string[]>;
  /**
   * Restarts a container, waiting up to timeoutSec for a graceful stop before the kill
   * (autoheal). Absent where the runtime cannot (ECS). Rejects with a message that says why,
   * e.g. "no such container: <id>".
   */
  restartContainer?(id: string, timeoutSec: number): Promise<void>;
}

export interface UsageReader {
  /** null when this reader cannot see the container (the caller then tries the next reader). */
  read(container: ContainerInfo): Promise<RawUsage | null>;
}

export interface HostCollector {
  collect(): Promise<HostSample>;
}

// ---------- server side ----------

/** Latest sample per container and per host, for /api/containers, /api/hosts and subscription snapshots. */
export interface LatestStore {
  apply(batch: MetricBatch): void;
  containers(): HostedContainerSample[];
  hosts(): HostInfo[];
}

export interface Subscription {
  close(): void;
  /** Samples dropped because this subscriber fell behind. */
  readonly dropped: number;
}

/** Live fan-out of batches to WebSocket and SubscribeToMetrics clients, on this and other replicas. */
export interface MetricsBus {
  publish(batch: MetricBatch): Promise<void> | void;
  /** The handler must not block; a slow consumer gets a bounded queue and drops. */
  subscribe(handler: (batch: MetricBatch) => void): Subscription;
}

/** Remembers the highest acked sequence per agent so resent batches are recognised. */
export interface SequenceLedger {
  lastAcked(agentId: string): number | undefined;
  record(agentId: string, sequence: number): void;
}

/** Where batches become durable. The ingest use case acks only after `writeBatch` resolves. */
export interface BatchSink {
  writeBatch(batch: MetricBatch): Promise<void>;
}

export type { BatchAck };

/** The slice of pino's API the core uses; adapters receive a child logger. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}
