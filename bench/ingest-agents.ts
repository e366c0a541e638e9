// Benchmark agents in their own process: each is one StreamMetrics call over real gRPC, in a
// closed loop (a window of unacked batches per agent) or an open loop (a fixed batch rate
// spread over the agents). Prints one JSON line with the ack latencies of the batches acked
// during the measured window.
//
// The batches are generated and protobuf-encoded before the clock starts, as the InfluxDB
// ceiling pre-builds its line protocol: the measured rate is the server's, not the cost of
// encoding in this simulator (the real agent's own cost is the agent-cost scenario). Each batch
// has its own timestamps (spaced so they keep pace with the wall clock at the planned rate) and
// its sequence number: a send writes bytes prepared in advance, and allocates nothing itself.
import * as grpc from '@grpc/grpc-js';
import { loadMetricsService, SERVICE_NAME } from '../src/infrastructure/grpc/proto.js';
import { metricDataToWire, type MetricResponseWire } from '../src/infrastructure/grpc/mapping.js';
import { containerIds, makeBatch } from '../test/helpers/storage-batches.js';
import type { MetricBatch } from '../src/domain/types.js';

export interface AgentsConfig {
  port: number; agents: number; perBatch: number; seconds: number; warmupMs: number; window: number;
  batchesPerSec?: number; tag: string;
  /** Sent as `authorization: Bearer <token>` (a real server's AGENT_TOKEN). */
  token?: string;
  /** Closed loop: pre-encode enough batches for this many batches per second in all (default 3,000). */
  maxBatchesPerSec?: number;
  /** The first this many containers of every agent run at 95 % CPU (for an alert rule to fire on). */
  hotContainers?: number;
}

const FIRST_SEQUENCE = 1_000_000;

function sequenceField(seq: number): Buffer {
  const out = [0x18]; // field 3 (sequence), wire type 0
  let v = seq;
  while (v >= 0x80) { out.push((v % 128) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const heat = (b: MetricBatch, hot: number): MetricBatch => {
  for (const c of b.containers.slice(0, hot)) c.cpuPercent = 95;
  return b;
};

async function main(o: AgentsConfig): Promise<void> {
  const svc = loadMetricsService().service.StreamMetrics!;
  const encode = svc.requestSerialize as (m: unknown) => Buffer;
  const decodeAck = svc.responseDeserialize as (b: Buffer) => MetricResponseWire;
  const totalSecs = (o.warmupMs / 1000) + o.seconds + 1;
  const perAgent = Math.ceil(((o.batchesPerSec ?? o.maxBatchesPerSec ?? 3000) * totalSecs) / o.agents);
  // Timestamps follow the wall clock at the planned rate, as a live agent's do: points from the
  // past would all be "late" for the InfluxDB rollups and cost influxd backfill queries that a
  // live stream does not cause.
  const stepMs = (1000 * o.agents) / (o.batchesPerSec ?? o.maxBatchesPerSec ?? 3000);
  const base = Date.now() + 1000;

  const agents = Array.from({ length: o.agents }, (_, a) => {
    const agentId = `bench-${o.tag}-${a}`;
    const ids = containerIds(`${o.tag}x${a}x`, o.perBatch);
    const pool = Array.from({ length: perAgent }, (_, i) =>
      encode({ ...metricDataToWire(heat(makeBatch(agentId, `host-${agentId}`, ids, Math.round(base + i * stepMs), i), o.hotContainers ?? 0)), sequence: FIRST_SEQUENCE + i }));
    const client = new grpc.Client(`127.0.0.1:${o.port}`, grpc.credentials.createInsecure(), {
      // One connection per agent, as real agents have.
      'grpc.use_local_subchannel_pool': 1,
    });
    const md = new grpc.Metadata();
    if (o.token) md.set('authorization', `Bearer ${o.token}`);
    const call = client.makeBidiStreamRequest(`/${SERVICE_NAME}/StreamMetrics`, (b: Buffer) => b, decodeAck, md);
    return { agentId, pool, client, call, next: 0, outstanding: 0, reused: 0, ackedInWindow: 0, ackedAll: 0, wake: null as (() => void) | null };
  });

  // Encoded and connected: tell the parent, and start when it says so (all processes at once).
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => { if (d.includes('go')) resolve(); });
  });

  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  let measuring = false;
  let acked = 0;
  let failed = '';
  for (const ag of agents) {
    ag.call.on('data', (ack: MetricResponseWire) => {
      const k = `${ack.agentId}/${ack.sequence}`;
      const s = sentAt.get(k);
      sentAt.delete(k);
      ag.outstanding--;
      if (ack.status === 'ACK') ag.ackedAll++;
      if (s !== undefined && measuring && ack.status === 'ACK') { lat.push(performance.now() - s); acked++; ag.ackedInWindow++; }
      ag.wake?.();
    });
    ag.call.on('error', (err: Error) => { failed ||= `${ag.agentId}: ${err.message}`; });
  }

  const send = (ag: (typeof agents)[number]): void => {
    const i = ag.next++;
    const seq = FIRST_SEQUENCE + i;
    sentAt.set(`${ag.agentId}/${seq}`, performance.now());
    ag.outstanding++;
    if (i < ag.pool.length) { ag.call.write(ag.pool[i]!); return; }
    // Past the pool (closed loops at high rates) a batch goes again under a new sequence number,
    // appended: of a repeated scalar field protobuf readers keep the last.
    ag.reused++;
    ag.call.write(Buffer.concat([ag.pool[i % ag.pool.length]!, sequenceField(seq)]));
  };

  let t0 = 0;
  // This process's own CPU over the window: the generator shares the cores with the server.
  let cpu0 = process.cpuUsage();
  setTimeout(() => { measuring = true; t0 = performance.now(); cpu0 = process.cpuUsage(); }, o.warmupMs);
  let stop = false;
  if (o.batchesPerSec) {
    // Paced by elapsed time, not by timer ticks: a tick that comes late (this process short of
    // CPU) sends what fell due meanwhile, so the offered rate is the planned one.
    const start = performance.now();
    let sent = 0;
    let rr = 0;
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * o.batchesPerSec!) / 1000);
      while (sent < due) {
        send(agents[rr++ % agents.length]!);
        sent++;
      }
    }, 20);
    await sleep(o.warmupMs + o.seconds * 1000);
    clearInterval(timer);
  } else {
    const loops = agents.map(async (ag) => {
      while (!stop) {
        while (ag.outstanding >= o.window && !stop) {
          await new Promise<void>((r) => { ag.wake = r; setTimeout(r, 200); });
        }
        if (stop) break;
        send(ag);
      }
    });
    await sleep(o.warmupMs + o.seconds * 1000);
    stop = true;
    for (const ag of agents) ag.wake?.();
    await Promise.all(loops);
  }
  measuring = false;
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuPercent = Math.round(((cpu.user + cpu.system) / 1e6 / secs) * 1000) / 10;
  // Unacked batches sent during the window: the server had not made them durable by its end.
  const backlog = [...sentAt.values()].filter((s) => s >= t0 - o.warmupMs).length;
  const reused = agents.reduce((a, ag) => a + ag.reused, 0);
  for (const ag of agents) { ag.call.end(); ag.client.close(); }
  // Exit once the line is flushed: a pipe takes it asynchronously, and exit() would cut it.
  // Per agent: batches acked in the window (how evenly the server serves them) and in all.
  const ackedPerAgent = agents.map((ag) => ag.ackedInWindow);
  const ackedAll = agents.reduce((a, ag) => a + ag.ackedAll, 0);
  process.stdout.write(`${JSON.stringify({ acked, secs, cpuPercent, neverAcked: agents.filter((ag) => ag.ackedAll === 0).length, backlog, reused, failed, perAgent: ackedPerAgent, ackedAll, lat: lat.map((x) => Math.round(x * 10) / 10) })}\n`, () => process.exit(0));
}

void main(JSON.parse(process.argv[2]!) as AgentsConfig);
