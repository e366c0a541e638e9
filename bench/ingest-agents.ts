// Benchmark agents in their own process (so encoding on the agent side does not slow the
// measuring process): real AgentStreams over gRPC, closed loop (a window of unacked batches
// per agent) or open loop (a fixed batch rate). Prints one JSON line with the ack latencies
// of the batches acked during the measured window.
import { createAgentStream } from '../src/infrastructure/grpc/agent-client.js';
import type { Logger } from '../src/application/ports.js';
import { containerIds, makeBatch } from '../test/helpers/storage-batches.js';

export interface AgentsConfig {
  port: number; agents: number; perBatch: number; seconds: number; warmupMs: number; window: number;
  batchesPerSec?: number; tag: string;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(o: AgentsConfig): Promise<void> {
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  let measuring = false;
  let acked = 0;
  const outstanding = new Map<string, number>();
  const wake = new Map<string, () => void>();
  const streams = Array.from({ length: o.agents }, (_, a) => {
    const agentId = `bench-${o.tag}-${a}`;
    outstanding.set(agentId, 0);
    const stream = createAgentStream({
      address: `127.0.0.1:${o.port}`, log: silent, queueSize: 100_000,
      onAck: (ack) => {
        const k = `${ack.agentId}/${ack.sequence}`;
        const s = sentAt.get(k);
        sentAt.delete(k);
        outstanding.set(ack.agentId, (outstanding.get(ack.agentId) ?? 1) - 1);
        if (s !== undefined && measuring) { lat.push(performance.now() - s); acked++; }
        wake.get(ack.agentId)?.();
      },
    });
    return { agentId, stream, ids: containerIds(`${o.tag}x${a}x`, o.perBatch) };
  });
  const base = Date.now() - 3_600_000;
  const send = (ag: (typeof streams)[number], i: number): void => {
    const b = makeBatch(ag.agentId, `host-${ag.agentId}`, ag.ids, base + i * 1000, i);
    sentAt.set(`${ag.agentId}/${b.sequence}`, performance.now());
    outstanding.set(ag.agentId, (outstanding.get(ag.agentId) ?? 0) + 1);
    ag.stream.send(b);
  };
  let t0 = 0;
  setTimeout(() => { measuring = true; t0 = performance.now(); }, o.warmupMs);
  let stop = false;
  if (o.batchesPerSec) {
    const counters = streams.map(() => 0);
    const tickMs = 20;
    const perTick = (o.batchesPerSec * tickMs) / 1000;
    let carry = 0;
    let rr = 0;
    const timer = setInterval(() => {
      carry += perTick;
      while (carry >= 1) {
        const k = rr++ % streams.length;
        send(streams[k]!, counters[k]!++);
        carry -= 1;
      }
    }, tickMs);
    await sleep(o.warmupMs + o.seconds * 1000);
    clearInterval(timer);
  } else {
    const loops = streams.map(async (ag) => {
      for (let i = 0; !stop; i++) {
        while ((outstanding.get(ag.agentId) ?? 0) >= o.window && !stop) {
          await new Promise<void>((r) => { wake.set(ag.agentId, r); setTimeout(r, 200); });
        }
        if (stop) break;
        send(ag, i);
      }
    });
    await sleep(o.warmupMs + o.seconds * 1000);
    stop = true;
    for (const w of wake.values()) w();
    await Promise.all(loops);
  }
  measuring = false;
  const secs = (performance.now() - t0) / 1000;
  // Unacked batches sent during the window count as latency of at least the window's end.
  const backlog = [...sentAt.values()].filter((s) => s >= t0 - o.warmupMs).length;
  process.stdout.write(`${JSON.stringify({ acked, secs, backlog, lat: lat.map((x) => Math.round(x * 10) / 10) })}\n`);
  await Promise.all(streams.map((s) => s.stream.close(1000)));
  process.exit(0);
}

void main(JSON.parse(process.argv[2]!) as AgentsConfig);
