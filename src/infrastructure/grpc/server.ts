// gRPC server: StreamMetrics (agents -> ingest use case, acks by sequence) and
// SubscribeToMetrics (snapshot of the latest samples, then live batches from the bus).
//
// StreamMetrics: each batch goes to ingest as soon as it arrives (the ingest use case lets
// the batches of one agent write concurrently and commit in order); acks are written in the
// order the batches came.
//  - backpressure: the server holds at most maxInFlightSamples unacked samples, shared
//    evenly between the agent streams (each may always have one batch in flight). A stream
//    over its share, or with 64 unanswered batches, is not read until acks bring it back
//    under; HTTP/2 flow control then holds that agent back, and it keeps the batches in its
//    own bounded queue. So an overloaded server stays within a fixed memory budget, and a
//    busy agent cannot starve the others (a global stop-and-go let the first streams
//    resumed fill the budget every time);
//  - undecodable bytes, or a batch without agent_id / with sequence 0: the stream ends with
//    INVALID_ARGUMENT (no ack can name such a batch);
//  - any other malformed field: a REJECTED ack naming the field, the stream goes on;
//  - a retryable ingest failure (storage down): no ack, the stream ends with UNAVAILABLE and
//    the agent resends after reconnecting;
//  - larger than maxMessageBytes: grpc-js answers RESOURCE_EXHAUSTED for that call only.
//
// Commands (autoheal): sendCommand writes a MetricResponse with `command` set (sequence 0,
// STATUS_UNSPECIFIED) on the stream of the agent, if one is connected here whose call
// metadata announced `x-dockwatch-capabilities: commands` (an old agent would count it as a
// rejected ack). A stream is known by the agent id of its first valid batch.
//
// SubscribeToMetrics: the snapshot messages carry sequence 0 (they are not agent batches)
// and complete=false; live messages carry the agent's sequence. Each subscriber has a bounded
// queue in front of the HTTP/2 stream; when the client reads too slowly the oldest queued//
// Files: metrics-streams.ts (StreamMetrics), metrics-subscribers.ts (SubscribeToMetrics),
// server-calls.ts (what both share); this one binds, closes and counts.
import * as grpc from '@grpc/grpc-js';
import type { BatchAck, MetricBatch } from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import type { LatestStore, Logger, MetricsBus } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, loadMetricsService } from './proto.js';
import type { ValidationLimits } from './mapping.js';
import { decodeOrFailure, endWithError } from './server-calls.js';
import { createAgentStreams } from './metrics-streams.js';
import { createSubscribers } from './metrics-subscribers.js';

export type GrpcRpc = 'StreamMetrics' | 'SubscribeToMetrics';

export interface GrpcServerDeps {
  ingest: (batch: MetricBatch) => Promise<BatchAck>;
  bus: MetricsBus;
  latest: LatestStore;
  /** Throws AppError UNAUTHENTICATED / PERMISSION_DENIED to refuse a call. */
  authorize?: (metadata: grpc.Metadata, rpc: GrpcRpc) => Promise<void>;
  log: Logger;
  /** Largest message accepted, in bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Messages queued per subscriber before the oldest is dropped (default 1000). */
  subscriberQueue?: number;
  /** Open SubscribeToMetrics streams allowed at once; more get RESOURCE_EXHAUSTED (default 1000). */
  maxSubscribers?: number;
  limits?: Partial<ValidationLimits>;
  /** Default: insecure (TLS usually ends at a proxy or the mesh). */
  credentials?: grpc.ServerCredentials;
  /** Unacked samples (containers + hosts) held at most before every agent stream is paused (default 20,000). */
  maxInFlightSamples?: number;
  /** How often a full in-flight budget is checked for, to log "ingest saturated" (default 5 s). */
  saturationCheckMs?: number;
}

export interface GrpcServerStats {
  agentStreams: number;
  subscribers: number;
  batchesReceived: number;
  acked: number;
  duplicates: number;
  rejected: number;
  streamErrors: number;
  /** Times an agent stream was paused because too many of its batches waited for ingest. */
  readPauses: number;
  /** Times an agent stream was paused because it held its share of maxInFlightSamples. */
  overloadPauses: number;
  /** Samples received and not yet acked, now. */
  inFlightSamples: number;
  /** Batches received from the network that wait, undecoded, for their stream to be read again. */
  bufferedBatches: number;
  /** The in-flight budget stayed full: the store is slower than the agents (logged as "ingest saturated"). */
  saturated: boolean;
  subscriberMessages: number;
  subscriberDropped: number;
}

export interface GrpcServer {
  /** Binds and starts serving; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting, lets in-flight batches finish and be acked, then shuts down. */
  close(graceMs: number): Promise<void>;
  stats(): GrpcServerStats;
  /**
   * Writes the command on the stream of that agent (the newest, if it has several). False when
   * no stream of the agent that announced the `commands` capability is connected here.
   */
  sendCommand(agentId: string, cmd: AgentCommand): boolean;
}

export { DEFAULT_MAX_MESSAGE_BYTES };
export const DEFAULT_SUBSCRIBER_QUEUE = 1000;
export const DEFAULT_MAX_IN_FLIGHT_SAMPLES = 20_000;

function tolerantService(): grpc.ServiceDefinition {
  const svc = loadMetricsService().service;
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, def] of Object.entries(svc)) {
    out[name] = {
      ...def,
      // Agent batches stay bytes until the handler takes them (decodeBatch): grpc-js decodes on
      // arrival and buffers what a paused stream received, and decoded batches waiting there
      // for seconds under overload were most of the server's heap.
      requestDeserialize: name === 'StreamMetrics' ? (buf: Buffer) => buf : (buf: Buffer) => decodeOrFailure(def.requestDeserialize, buf),
    };
  }
  return out as grpc.ServiceDefinition;
}

export function createGrpcServer(deps: GrpcServerDeps): GrpcServer {
  const log = deps.log.child({ component: 'grpc' });
  const maxMessageBytes = deps.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    // Find agents that vanished without closing their connection.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const state = { closing: false };
  const agents = createAgentStreams({
    ingest: deps.ingest, authorize: deps.authorize, limits: deps.limits, log, state, saturationCheckMs: deps.saturationCheckMs,
    maxInFlight: Math.max(1, deps.maxInFlightSamples ?? DEFAULT_MAX_IN_FLIGHT_SAMPLES),
  });
  const subs = createSubscribers({
    bus: deps.bus, latest: deps.latest, authorize: deps.authorize, log, state,
    queueLimit: Math.max(1, deps.subscriberQueue ?? DEFAULT_SUBSCRIBER_QUEUE),
    maxSubscribers: Math.max(1, deps.maxSubscribers ?? 1000),
  });
  const { streams, updateFlow } = agents;
  let boundAddress: string | null = null;

  server.addService(tolerantService(), {
    StreamMetrics: agents.handler as grpc.handleBidiStreamingCall<unknown, unknown>,
    SubscribeToMetrics: ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      void subs.handler(call);
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
  });

  return {
    listen(host, port) {
      const creds = deps.credentials ?? grpc.ServerCredentials.createInsecure();
      return new Promise<number>((resolve, reject) => {
        server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, creds, (err, bound) => {
          if (err) {
            reject(new AppError('UNAVAILABLE', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
            return;
          }
          boundAddress = `${host.includes(':') ? `[${host}]` : host}:${bound}`;
          log.info({ address: boundAddress, maxMessageBytes }, 'gRPC listening');
          resolve(bound);
        });
      });
    },

    async close(graceMs) {
      if (state.closing) return;
      state.closing = true;
      // 1. No new connections.
      if (boundAddress) {
        try { server.unbind(boundAddress); } catch { /* already gone */ }
      }
      // 2. Subscribers just end; they reconnect elsewhere.
      subs.endAll();
      // 3. Let every agent stream finish the batches it already received, ack them, then end
      //    with UNAVAILABLE so the agents reconnect (to this server's successor).
      const deadlineAt = Date.now() + graceMs;
      const deadline = new Promise<void>((r) => setTimeout(r, graceMs).unref?.());
      await Promise.race([
        Promise.all([...streams].map(async (s) => {
          updateFlow(s);
          await s.chain;
          if (!s.done) {
            s.done = true;
            endWithError(s.call, new AppError('UNAVAILABLE', 'server shutting down'));
          }
        })),
        deadline,
      ]);
      // 4. Wait for calls to close, but not forever.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, Math.max(100, deadlineAt - Date.now()));
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
      agents.stop();
      log.info(this.stats(), 'gRPC server closed');
    },

    sendCommand(agentId, cmd) {
      if (state.closing) return false;
      const target = agents.commandTarget(agentId);
      if (!target) return false;
      agents.writeCommand(target, agentId, cmd);
      log.info({ agentId, commandId: cmd.id, kind: cmd.kind, containerId: cmd.containerId, peer: target.peer }, 'command sent to agent');
      return true;
    },

    stats() {
      const counters = agents.counters;
      const sub = subs.stats();
      return {
        agentStreams: streams.size,
        subscribers: sub.subscribers,
        batchesReceived: counters.batchesReceived,
        acked: counters.acked,
        duplicates: counters.duplicates,
        rejected: counters.rejected,
        streamErrors: counters.streamErrors,
        readPauses: counters.readPauses,
        overloadPauses: counters.overloadPauses,
        inFlightSamples: agents.inFlightSamples(),
        bufferedBatches: agents.bufferedMessages(),
        saturated: agents.saturated(),
        subscriberMessages: sub.subscriberMessages,
        subscriberDropped: sub.subscriberDropped,
      };
    },
  };
}
