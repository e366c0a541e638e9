// Periodic digest and heartbeat: composed from the latest store, the alert history and the
// engine; sent through the notification sink (digest) or a heartbeat port. When several
// replicas run, one digest per period goes out: the first replica to claim the period sends it.
import type { HostInfo, HostedContainerSample } from '../domain/types.js';
import type { AlertHistory, Cooldown, Digest, Heartbeat, NotificationSink, StoredAlert, TopConsumer } from './alert-ports.js';
import type { Logger } from './ports.js';

export function composeDigest(input: {
  serverId: string;
  fromMs: number;
  toMs: number;
  hosts: HostInfo[];
  containers: HostedContainerSample[];
  alerts: StoredAlert[];
  top?: number;
}): Digest {
  const top = input.top ?? 5;
  const containersByState: Record<string, number> = {};
  for (const c of input.containers) containersByState[c.state] = (containersByState[c.state] ?? 0) + 1;
  const consumers = (pick: (c: HostedContainerSample) => number): TopConsumer[] =>
    input.containers
      .filter((c) => c.state === 'running')
      .map((c) => ({ host: c.host, containerId: c.id, containerName: c.name, value: Math.round(pick(c) * 10) / 10 }))
      .sort((a, b) => b.value - a.value || a.containerName.localeCompare(b.containerName))
      .slice(0, top);
  const inPeriod = input.alerts.filter((a) => a.timestampMs >= input.fromMs && a.timestampMs < input.toMs);
  return {
    serverId: input.serverId,
    fromMs: input.fromMs,
    toMs: input.toMs,
    hosts: input.hosts
      .map((h) => ({ hostname: h.hostname, containers: h.containerCount, lastSeenMs: h.lastSeenMs }))
      .sort((a, b) => a.hostname.localeCompare(b.hostname)),
    containersByState,
    topCpu: consumers((c) => c.cpuPercent),
    topMemory: consumers((c) => c.memPercent),
    alertsFired: inPeriod.filter((a) => a.state === 'firing').length,
    alertsResolved: inPeriod.filter((a) => a.state === 'resolved').length,
  };
}

export interface DigestDeps {
  serverId: string;
  latest: { hosts(): HostInfo[]; containers(): HostedContainerSample[] };
  history: Pick<AlertHistory, 'queryAlerts'>;
  cooldown: Cooldown;
  sink: NotificationSink;
  log: Logger;
  keyPrefix?: string;
}

/**
 * Sends the digest of the period [periodEnd - intervalMs, periodEnd) unless another replica
 * already did. Returns the digest sent, or null.
 */
export async function sendDigest(deps: DigestDeps, periodEndMs: number, intervalMs: number): Promise<Digest | null> {
  const fromMs = periodEndMs - intervalMs;
  const key = `${deps.keyPrefix ?? 'dockwatch:'}report:${intervalMs}:${periodEndMs}`;
  if (!(await deps.cooldown.tryAcquire(key, Math.max(intervalMs, 60_000)))) return null;
  let alerts: StoredAlert[] = [];
  try {
    alerts = await deps.history.queryAlerts({ fromMs, toMs: periodEndMs, limit: 100_000 });
  } catch (err) {
    deps.log.warn({ err }, 'digest: alert history unavailable, counting none');
  }
  const digest = composeDigest({
    serverId: deps.serverId, fromMs, toMs: periodEndMs, hosts: deps.latest.hosts(),
    containers: deps.latest.containers(), alerts,
  });
  await deps.sink.deliver({ kind: 'digest', digest });
  return digest;
}

export function composeHeartbeat(input: {
  serverId: string;
  nowMs: number;
  agentsConnected: number;
  samplesPerSecond: number;
  firingAlerts: number;
}): Heartbeat {
  return {
    serverId: input.serverId,
    timestampMs: input.nowMs,
    agentsConnected: input.agentsConnected,
    samplesPerSecond: Math.round(input.samplesPerSecond * 100) / 100,
    firingAlerts: input.firingAlerts,
  };
}
