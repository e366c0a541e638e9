// The ECS task metadata endpoint v4 layout (the parts we read) and pure mappings from it.
// `${ECS_CONTAINER_METADATA_URI_V4}/task` lists every container of the task; `/task/stats` maps
// DockerId -> Docker Engine stats JSON (null for a container that is not running).
import type { ContainerInfo } from '../../application/ports.js';
import type { ContainerEvent } from '../../domain/types.js';

export interface EcsContainerMetadata {
  DockerId: string;
  Name: string;
  DockerName?: string;
  Image?: string;
  Labels?: Record<string, string>;
  DesiredStatus?: string;
  KnownStatus?: string;
  ExitCode?: number;
  RestartCount?: number;
  Limits?: { CPU?: number; Memory?: number };
  CreatedAt?: string;
  StartedAt?: string;
  FinishedAt?: string;
  Type?: string;
  Health?: { status?: string };
}

export interface EcsTaskMetadata {
  Cluster?: string;
  TaskARN?: string;
  Family?: string;
  Revision?: string;
  KnownStatus?: string;
  Limits?: { CPU?: number; Memory?: number };
  Containers?: EcsContainerMetadata[];
}

const MIB = 1024 * 1024;

/** ECS KnownStatus -> the Docker state words the rest of Dockwatch uses. */
export function ecsState(known: string | undefined): string {
  switch ((known ?? '').toUpperCase()) {
    case 'RUNNING': return 'running';
    case 'STOPPED': return 'exited';
    case 'NONE': case 'PENDING': case 'PULLED': case 'CREATED': case 'MANIFEST_PULLED': return 'created';
    default: return (known ?? 'unknown').toLowerCase();
  }
}

/** ECS container health (HEALTHY/UNHEALTHY/UNKNOWN) -> healthy/unhealthy/starting/none. */
export function ecsHealth(h: EcsContainerMetadata['Health']): string {
  switch ((h?.status ?? '').toUpperCase()) {
    case 'HEALTHY': return 'healthy';
    case 'UNHEALTHY': return 'unhealthy';
    case 'UNKNOWN': return 'starting';
    default: return 'none';
  }
}

/** The pause container of awsvpc tasks is ECS plumbing, not a workload. */
export function isInternal(c: EcsContainerMetadata): boolean {
  return c.Type === 'CNI_PAUSE' || c.Name.startsWith('~internal~');
}

const parseMs = (s: string | undefined): number => {
  const t = s ? Date.parse(s) : Number.NaN;
  return Number.isFinite(t) && t > 0 ? t : 0;
};

export function toContainerInfo(c: EcsContainerMetadata): ContainerInfo {
  return {
    id: c.DockerId,
    name: c.Name,
    image: c.Image ?? '',
    labels: { ...(c.Labels ?? {}) },
    state: ecsState(c.KnownStatus),
    health: ecsHealth(c.Health),
    restartCount: c.RestartCount ?? 0,
    exitCode: c.ExitCode ?? 0,
    // The endpoint does not say why a container stopped; an OOM kill shows only as exit code 137.
    oomKilled: false,
    startedAtMs: parseMs(c.StartedAt),
    pid: 0,
    cgroupParent: '',
  };
}

/** Memory limit in bytes from the metadata: the container's own, else the task's; 0 when neither is set. */
export function metadataMemLimitBytes(task: EcsTaskMetadata, c: EcsContainerMetadata | undefined): number {
  const own = c?.Limits?.Memory ?? 0;
  if (own > 0) return own * MIB;
  const taskMem = task.Limits?.Memory ?? 0;
  return taskMem > 0 ? taskMem * MIB : 0;
}

export interface Seen { name: string; state: string; exitCode: number; health: string; restartCount: number }

/**
 * ECS has no event stream: lifecycle events are synthesized from two successive task snapshots.
 * A container that appears running or turns running -> start; one that stops -> die (with its exit
 * code); one that vanishes from the task -> destroy; a health change -> health_status.
 */
export function diffSnapshots(
  prev: Map<string, Seen>,
  containers: ContainerInfo[],
  nowMs: number,
): { events: ContainerEvent[]; next: Map<string, Seen> } {
  const events: ContainerEvent[] = [];
  const next = new Map<string, Seen>();
  const ev = (id: string, name: string, action: string, exitCode: number, health: string): ContainerEvent => ({
    containerId: id, containerName: name, action, timestampMs: nowMs, exitCode, health, attributes: { source: 'ecs' },
  });
  for (const c of containers) {
    const before = prev.get(c.id);
    next.set(c.id, { name: c.name, state: c.state, exitCode: c.exitCode, health: c.health, restartCount: c.restartCount });
    const wasRunning = before?.state === 'running';
    const isRunning = c.state === 'running';
    const restarted = before !== undefined && c.restartCount > before.restartCount;
    if (isRunning && (!wasRunning || restarted)) {
      if (restarted && wasRunning) events.push(ev(c.id, c.name, 'die', c.exitCode, c.health));
      events.push(ev(c.id, c.name, 'start', 0, c.health));
    } else if (!isRunning && wasRunning && c.state === 'exited') {
      events.push(ev(c.id, c.name, 'die', c.exitCode, c.health));
    }
    if (before && before.health !== c.health && c.health !== 'none') {
      events.push(ev(c.id, c.name, 'health_status', 0, c.health));
    }
  }
  for (const [id, seen] of prev) {
    if (next.has(id)) continue;
    if (seen.state === 'running') events.push(ev(id, seen.name, 'die', seen.exitCode, seen.health));
    events.push(ev(id, seen.name, 'destroy', seen.exitCode, seen.health));
  }
  return { events, next };
}
