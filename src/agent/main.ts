// Composition root of the agent: picks the container runtime (Docker Engine, or the ECS task
// metadata endpoint on Fargate), the usage readers (cgroup files first, Engine API fallback),
// the host collector and the gRPC stream, and runs the loop.
import { readFile, writeFile } from 'node:fs/promises';
import type { AgentConfig } from '../config/config.js';
import type { ContainerRuntime, Logger, UsageReader } from '../application/ports.js';
import { createCollector } from '../application/collect.js';
import { runAgentLoop } from '../application/agent-loop.js';
import { withAlertContext } from '../application/alert-context.js';
import { createCommandHandler, withInjectedEvents } from '../application/agent-commands.js';
import { createDockerRuntime, type EngineTls } from '../infrastructure/docker/runtime.js';
import { createEngineStatsReader } from '../infrastructure/docker/stats-reader.js';
import { createCgroupUsageReader } from '../infrastructure/cgroup/reader.js';
import { createHostCollector } from '../infrastructure/host/collector.js';
import { createEcsRuntime } from '../infrastructure/ecs/runtime.js';
import { createAgentStream, type AgentStreamStats } from '../infrastructure/grpc/agent-client.js';

export interface AgentHandle {
  stop(): Promise<void>;
  stats(): AgentStreamStats & { runtimeAvailable: boolean };
}

/** The DOCKER_CERT_PATH files config checked at start-up; their contents go to the TLS agent only, never to a log. */
async function engineTls(cfg: AgentConfig): Promise<EngineTls | undefined> {
  const t = cfg.dockerTls;
  if (!t) return undefined;
  const load = (f: string | undefined) => (f ? readFile(f) : Promise.resolve(undefined));
  const [ca, cert, key] = await Promise.all([load(t.caFile), load(t.certFile), load(t.keyFile)]);
  return { verify: t.verify, ca, cert, key };
}

export async function startAgent(cfg: AgentConfig, log: Logger): Promise<AgentHandle> {
  const closers: Array<() => void> = [];
  let runtime: ContainerRuntime;
  let readers: UsageReader[];
  let runtimeName: string;
  let remote = false;

  if (cfg.ecsMetadataUri) {
    const ecs = createEcsRuntime({ metadataUri: cfg.ecsMetadataUri, log: log.child({ component: 'ecs' }) });
    runtime = ecs.runtime;
    readers = [ecs.usage];
    runtimeName = 'ECS task metadata';
  } else {
    const docker = createDockerRuntime({ dockerHost: cfg.dockerHost, tls: await engineTls(cfg), log: log.child({ component: 'docker' }) });
    const engineStats = createEngineStatsReader({ client: docker.client, log: log.child({ component: 'engine-stats' }) });
    runtime = docker;
    runtimeName = `Docker at ${cfg.dockerHost ?? 'unix:///var/run/docker.sock'}${cfg.dockerTls ? (cfg.dockerTls.verify ? ' (TLS, verified)' : ' (TLS, not verified)') : ''}`;
    closers.push(() => docker.close());
    if (cfg.dockerRemote) {
      // A tcp:// engine's containers are not on this machine: this /sys would give another
      // container's numbers, or none, and this /proc is not the engine's host (decision 007).
      readers = [engineStats];
      remote = true;
    } else {
      // Sync reads on kept descriptors cost a third of the CPU of async reads and block the loop
      // for about 1 ms per 100 containers (docs/decisions/001-cgroup-reader.md).
      const cgroup = createCgroupUsageReader({ procRoot: cfg.procRoot, sysRoot: cfg.sysRoot, syncReads: true, log: log.child({ component: 'cgroup' }) });
      readers = [cgroup, engineStats];
      closers.push(() => cgroup.close());
    }
  }
  if (cfg.dockerTls && !cfg.dockerTls.verify) log.warn({ runtime: runtimeName }, 'DOCKER_TLS without DOCKER_TLS_VERIFY: the engine\'s certificate is not checked');
  if (remote) log.info({ runtime: runtimeName, hostname: cfg.hostname }, 'remote engine: container stats from the Engine API (source engine-api); no host metrics, as this machine is not the engine\'s host');

  let runtimeUp = true;
  const host = remote ? undefined : createHostCollector({
    procRoot: cfg.procRoot, sysRoot: cfg.sysRoot, hostRoot: cfg.hostRoot,
    runtimeAvailable: () => runtimeUp, syncReads: true, log: log.child({ component: 'host' }),
  });
  const collector = createCollector({ runtime, readers, host, log: log.child({ component: 'collect' }) });

  // die/oom/unhealthy events carry the last log lines, so the alert can show them; the results
  // of the server's commands (autoheal restarts) join the events and go out promptly.
  const events = withInjectedEvents(withAlertContext(runtime, log));
  const onCommand = createCommandHandler({
    restart: runtime.restartContainer?.bind(runtime), enabled: cfg.autoheal,
    log: log.child({ component: 'commands' }), report: events.inject, clock: Date.now,
  });

  const tls = cfg.serverCaFile ? { rootCerts: await readFile(cfg.serverCaFile) } : cfg.serverTls;
  const stream = createAgentStream({
    address: cfg.serverAddr, token: cfg.agentToken, queueSize: cfg.queueSize, log, tls, onCommand,
    spreadKey: cfg.agentId,
    rebalance: cfg.serverRebalanceMs === undefined ? false : { minMs: cfg.serverRebalanceMs, maxMs: 4 * cfg.serverRebalanceMs },
  });

  const collect = async () => {
    const result = await collector.collect();
    if (result.runtimeAvailable !== runtimeUp) {
      runtimeUp = result.runtimeAvailable;
      if (runtimeUp) log.info({ runtime: runtimeName }, 'container runtime reachable again: container metrics resume');
      else log.warn({ runtime: runtimeName }, 'container runtime not reachable: reporting host metrics only until it returns');
    }
    return result;
  };

  const loop = runAgentLoop({
    collect, watchEvents: events.watchEvents, send: (b) => stream.send(b),
    agentId: cfg.agentId, hostname: cfg.hostname, intervalMs: cfg.collectIntervalMs, clock: Date.now, log,
  });

  // A tiny status file lets a container HEALTHCHECK see that the loop is alive and connected.
  const statusTimer = cfg.statusFile
    ? setInterval(() => {
      const s = stream.stats();
      // rss and heapUsed (bytes) let a health check or the benchmark watch the agent's memory.
      const { rss, heapUsed } = process.memoryUsage();
      writeFile(cfg.statusFile!, JSON.stringify({ ts: Date.now(), connected: s.connected, queued: s.queued, runtime: runtimeUp, rss, heapUsed }))
        .catch(() => undefined);
    }, cfg.collectIntervalMs)
    : undefined;

  log.info({ agentId: cfg.agentId, server: cfg.serverAddr, intervalMs: cfg.collectIntervalMs, runtime: runtimeName }, 'agent started');

  return {
    async stop() {
      if (statusTimer) clearInterval(statusTimer);
      await loop.stop();
      // In-flight batches get a few seconds to be acked; the rest are lost only if the agent is not restarted.
      await stream.close(5000);
      for (const close of closers) close();
      log.info(stream.stats(), 'agent stopped');
    },
    stats: () => ({ ...stream.stats(), runtimeAvailable: runtimeUp }),
  };
}

