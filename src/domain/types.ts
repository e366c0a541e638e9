// Core data shapes shared by agent and server. Pure types: no I/O, no imports.

export type ContainerState =
  | 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'removed';

export type HealthStatus = 'healthy' | 'unhealthy' | 'starting' | 'none';

export interface ContainerSample {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerState | string;
  health: HealthStatus | string;
  restartCount: number;
  exitCode: number;
  oomKilled: boolean;
  startedAtMs: number;
  timestampMs: number;
  /** 100 = one full core, as `docker stats` shows it. */
  cpuPercent: number;
  cpuUsageNs: number;
  onlineCpus: number;
  /** usage minus inactive file cache, as `docker stats` shows it */
  memUsageBytes: number;
  memLimitBytes: number;
  memPercent: number;
  memRawUsageBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  blkReadBytes: number;
  blkWriteBytes: number;
  pids: number;
  /** 'cgroup' | 'engine-api' | 'ecs' | '' when not running */
  source: string;
}

export interface DiskUsage {
  mount: string;
  device: string;
  fsType: string;
  totalBytes: number;
  usedBytes: number;
  usedPercent: number;
}

export interface HostSample {
  timestampMs: number;
  numCpus: number;
  cpuPercent: number;
  cpuPerCorePercent: number[];
  load1: number;
  load5: number;
  load15: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  memUsedBytes: number;
  memPercent: number;
  swapTotalBytes: number;
  swapUsedBytes: number;
  disks: DiskUsage[];
  netRxBytes: number;
  netTxBytes: number;
  uptimeSeconds: number;
  runtimeAvailable: boolean;
}

export interface ContainerEvent {
  containerId: string;
  containerName: string;
  action: string;
  timestampMs: number;
  exitCode: number;
  health: string;
  attributes: Record<string, string>;
}

/** One agent batch: what travels in a MetricData message. */
export interface MetricBatch {
  agentId: string;
  hostname: string;
  sequence: number;
  timestampMs: number;
  host: HostSample | null;
  containers: ContainerSample[];
  events: ContainerEvent[];
  /** true when `containers` lists every container of the host */
  complete: boolean;
  intervalMs: number;
}

export type AckStatus = 'ack' | 'duplicate' | 'rejected';

export interface BatchAck {
  agentId: string;
  sequence: number;
  status: AckStatus;
  message: string;
}

/** A container sample with the host it came from: what the live bus and the latest store carry. */
export interface HostedContainerSample extends ContainerSample {
  host: string;
  agentId: string;
}

export interface HostInfo {
  agentId: string;
  hostname: string;
  lastSeenMs: number;
  intervalMs: number;
  sample: HostSample | null;
  containerCount: number;
}
