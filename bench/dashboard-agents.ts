// A synthetic fleet for the dashboard bench and the browser load test: N hosts, each one
// StreamMetrics call over real gRPC (as a real agent has), sending every intervalMs a complete
// batch of its containers with moving CPU, memory and counters, compose project labels, a few
// exited / unhealthy ones, and a host sample with disks. A host can be paused (its agent stops
// sending, the stream stays open) to see it go offline.
import * as grpc from '@grpc/grpc-js';
import { loadMetricsService, SERVICE_NAME } from '../src/infrastructure/grpc/proto.js';
import { metricDataToWire, type MetricResponseWire } from '../src/infrastructure/grpc/mapping.js';
import type { ContainerSample, MetricBatch } from '../src/domain/types.js';
import { container, hostSample } from '../test/helpers/grpc-fixtures.js';

export interface FleetOptions {
  address: string;
  token: string;
  hosts?: number;
  perHost?: number;
  intervalMs?: number;
  /** Agent id / hostname prefix, unique per run. */
  tag: string;
}

export interface Fleet {
  hostnames: string[];
  /** Every container id, by host. */
  ids: string[][];
  acked(): number;
  errors(): string[];
  pause(hostIndex: number): void;
  resume(hostIndex: number): void;
  /** Changes one container before the next round (state, health, restarts...). */
  patch(hostIndex: number, containerIndex: number, over: Partial<ContainerSample>): void;
  stop(): Promise<void>;
}

const hex = (s: string): string => Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64);

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const hosts = o.hosts ?? 5;
  const perHost = o.perHost ?? 100;
  const intervalMs = o.intervalMs ?? 1000;
  const svc = loadMetricsService().service.StreamMetrics!;
  const encode = svc.requestSerialize as (m: unknown) => Buffer;
  const decodeAck = svc.responseDeserialize as (b: Buffer) => MetricResponseWire;
  let acked = 0;
  const errors: string[] = [];
  const start = Date.now();

  const agents = Array.from({ length: hosts }, (_, h) => {
    const agentId = `${o.tag}-agent-${h}`;
    const hostname = `${o.tag}-host-${h}`;
    const containers: ContainerSample[] = Array.from({ length: perHost }, (_, i) => {
      const project = `proj-${(h * 7 + i) % 12}`;
      return container(hex(`${o.tag}:${h}:${i}`), {
        name: `${project}-svc-${String(i).padStart(3, '0')}`,
        image: i % 3 ? `registry.example/${project}:1.${i % 9}` : 'nginx:1.27',
        labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': `svc-${i}`, tier: i % 4 ? 'app' : 'db' },
        state: i % 37 === 5 ? 'exited' : 'running',
        health: i % 29 === 3 ? 'unhealthy' : i % 5 ? 'healthy' : 'none',
        restartCount: i % 23 === 0 ? 3 : 0,
        startedAtMs: start - (i + 1) * 3_600_000,
        cpuPercent: (i % 10) * 2, memUsageBytes: 20e6 + i * 1e6, memLimitBytes: 512 * 2 ** 20,
        netRxBytes: 0, netTxBytes: 0, blkReadBytes: 0, blkWriteBytes: 0, pids: 1 + (i % 20),
      });
    });
    const client = new grpc.Client(o.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${o.token}`);
    const call = client.makeBidiStreamRequest(`/${SERVICE_NAME}/StreamMetrics`, (b: Buffer) => b, decodeAck, md);
    call.on('data', (ack: MetricResponseWire) => { if (ack.status === 'ACK') acked++; });
    call.on('error', (err: Error) => { if (!/Cancelled/.test(err.message)) errors.push(`${agentId}: ${err.message}`); });
    return { agentId, hostname, containers, client, call, seq: 0, paused: false };
  });

  let round = 0;
  const tick = (): void => {
    round++;
    const now = Date.now();
    for (const [h, ag] of agents.entries()) {
      if (ag.paused) continue;
      for (const [i, c] of ag.containers.entries()) {
        c.timestampMs = now;
        if (c.state !== 'running') { c.cpuPercent = 0; continue; }
        // A slow wave per container, so sort orders change and sparklines move.
        c.cpuPercent = Math.max(0, Math.round((10 + 9 * Math.sin((round + i * 3) / 5) + (i % 7) * 3) * 100) / 100);
        c.memUsageBytes = Math.round(20e6 + i * 1e6 + 5e6 * Math.sin((round + i) / 11));
        c.memPercent = (100 * c.memUsageBytes) / c.memLimitBytes;
        c.netRxBytes += 1000 + (i % 13) * 5000;
        c.netTxBytes += 500 + (i % 5) * 2000;
        c.blkReadBytes += (i % 3) * 4096;
        c.blkWriteBytes += (i % 4) * 8192;
      }
      const batch: MetricBatch = {
        agentId: ag.agentId, hostname: ag.hostname, sequence: ++ag.seq, timestampMs: now, intervalMs, complete: true, events: [],
        host: hostSample({
          timestampMs: now, numCpus: 8, cpuPercent: 20 + 10 * Math.sin(round / 7 + h), load1: 1 + h * 0.5, load5: 0.9 + h * 0.4, load15: 0.8 + h * 0.3,
          memTotalBytes: 32 * 2 ** 30, memUsedBytes: (8 + h * 2) * 2 ** 30, memAvailableBytes: (24 - h * 2) * 2 ** 30, memPercent: ((8 + h * 2) / 32) * 100,
          disks: [
            { mount: '/', device: '/dev/sda1', fsType: 'ext4', totalBytes: 100 * 2 ** 30, usedBytes: (40 + h * 10) * 2 ** 30, usedPercent: 40 + h * 10 },
            { mount: '/var/lib/docker', device: '/dev/sdb1', fsType: 'xfs', totalBytes: 500 * 2 ** 30, usedBytes: (100 + h * 80) * 2 ** 30, usedPercent: (100 + h * 80) / 5 },
          ],
          netRxBytes: round * 1e6, netTxBytes: round * 5e5,
        }),
        containers: ag.containers.map((c) => ({ ...c })),
      };
      ag.call.write(encode(metricDataToWire(batch)));
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);

  return {
    hostnames: agents.map((a) => a.hostname),
    ids: agents.map((a) => a.containers.map((c) => c.id)),
    acked: () => acked,
    errors: () => errors,
    pause(h) { agents[h]!.paused = true; },
    resume(h) { agents[h]!.paused = false; },
    patch(h, i, over) { Object.assign(agents[h]!.containers[i]!, over); },
    async stop() {
      clearInterval(timer);
      for (const ag of agents) { ag.call.end(); ag.client.close(); }
    },
  };
}
