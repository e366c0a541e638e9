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
import { createDockerRuntime } from '../infrastructure/docker/runtime.js';
import { createEngineStatsReader } from '../infrastructure/docker/stats-reader.js';
import { createCgroupUsageReader } from '../infrastructure/cgroup/reader.js';
import { createHostCollector } from '../infrastructure/host/collector.js';
import { createEcsRuntime } from '../infrastructure/ecs/runtime.js';
import { createAgentStream, type AgentStreamStats } from '../infrastructure/grpc/agent-client.js';

export interface AgentHandle {
  stop(): Promise<void>;
  stats(): AgentStreamStats & { runtimeAvailable: boolean };
}

export async function startAgent(cfg: AgentConfig, log: Logger): Promise<AgentHandle> {
  const closers: Array<() => void> = [];
  let runtime: ContainerRuntime;
  let readers: UsageReader[];
  let runtimeName: string;

  if (cfg.ecsMetadataUri) {
    const ecs = createEcsRuntime({ metadataUri: cfg.ecsMetadataUri, log: log.child({ component: 'ecs' }) });
    runtime = ecs.runtime;
    readers = [ecs.usage];
    runtimeName = 'ECS task metadata';
  } else {
    const docker = createDockerRuntime({ dockerHost: cfg.dockerHost, log: log.child({ component: 'docker' }) });
    // Sync reads on kept descriptors cost a third of the CPU of async reads and block the loop
    // for about 1 ms per 100 containers (docs/decisions/001-cgroup-reader.md).
    const cgroup = createCgroupUsageReader({ procRoot: cfg.procRoot, sysRoot: cfg.sysRoot, syncReads: true, log: log.child({ component: 'cgroup' }) });
    runtime = docker;
    readers = [cgroup, createEngineStatsReader({ client: docker.client, log: log.child({ component: 'engine-stats' }) })];
    runtimeName = `Docker at ${cfg.dockerHost ?? 'unix:///var/run/docker.sock'}`;
    closers.push(() => docker.close(), () => cgroup.close());
  }

  let runtimeUp = true;
  const host = createHostCollector({
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

