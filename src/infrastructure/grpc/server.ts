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
// queue in front of the HTTP/2 stream; when the client reads too slowly the oldest queued
// message is dropped and counted, so ingestion never waits for a subscriber.
import * as grpc from '@grpc/grpc-js';
import type { BatchAck, MetricBatch } from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import type { LatestStore, Logger, MetricsBus, Subscription } from '../../application/ports.js';
import { AppError, invalidArgument, isAppError } from '../../application/errors.js';
import { compileSubscriptionFilter, type SubscriptionFilter } from '../../application/subscription-filter.js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY, DEFAULT_MAX_MESSAGE_BYTES, loadMetricsService } from './proto.js';
import {
  ackToWire, batchIdentity, commandToWire, IDENTITY_FIELDS, metricDataFromWire, metricDataToWire, subscriptionFromWire,
  type MetricDataWire, type MetricResponseWire, type SubscriptionRequestWire, type ValidationLimits,
} from './mapping.js';
import { toGrpcStatus } from './status.js';
import { decodeMetricData } from './wire-decoder.js';

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
const MAX_PENDING_PER_STREAM = 64;

/** Marks bytes that did not decode, so the handler can answer INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
interface DecodeFailure { readonly decodeError: string }
const isDecodeFailure = (v: unknown): v is DecodeFailure =>
  typeof v === 'object' && v !== null && 'decodeError' in v;

function decodeOrFailure(decode: (buf: Buffer) => unknown, buf: Buffer): unknown {
  try {
    return decode(buf);
  } catch (err) {
    return { decodeError: (err as Error).message } satisfies DecodeFailure;
  }
}

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

/** An agent batch's bytes, decoded with the hand-written decoder (same result as proto-loader, a fraction of the cost). */
const decodeBatch = (bytes: unknown): unknown => decodeOrFailure(decodeMetricData, bytes as Buffer);

/** Ends a call with the status an error maps to (the single edge mapping lives in status.ts). */
function endWithError(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  err: unknown): void {
  const st = toGrpcStatus(err);
  call.emit('error', { code: st.code, details: st.details, metadata: st.metadata });
}

interface AgentStream {
  call: grpc.ServerDuplexStream<unknown, unknown>;
  /** The ack of the last batch received: acks are written in this chain, in arrival order. */
  chain: Promise<void>;
  done: boolean;
  /** Batches received and not yet answered. */
  pending: number;
  /** Samples of those batches that went to ingest and are not acked yet. */
  pendingSamples: number;
  paused: boolean;
  peer: string;
  /** agent_id of the first valid batch; null before one arrived. */
  agentId: string | null;
  /** The call metadata announced `x-dockwatch-capabilities: commands`. */
  commands: boolean;
}

/** Whether StreamMetrics call metadata lists the commands capability (comma-separated values). */
function announcesCommands(md: grpc.Metadata): boolean {
  for (const v of md.get(CAPABILITIES_HEADER)) {
    if (String(v).split(',').some((c) => c.trim() === COMMANDS_CAPABILITY)) return true;
  }
  return false;
}

interface Subscriber {
  call: grpc.ServerWritableStream<unknown, unknown>;
  busSub: Subscription | null;
  queue: Record<string, unknown>[];
  waitingDrain: boolean;
  dropped: number;
  closed: boolean;
}

export function createGrpcServer(deps: GrpcServerDeps): GrpcServer {
  const log = deps.log.child({ component: 'grpc' });
  const maxMessageBytes = deps.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const queueLimit = Math.max(1, deps.subscriberQueue ?? DEFAULT_SUBSCRIBER_QUEUE);
  const maxSubscribers = Math.max(1, deps.maxSubscribers ?? 1000);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    // Find agents that vanished without closing their connection.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const streams = new Set<AgentStream>();
  const subscribers = new Set<Subscriber>();
  const counters = {
    batchesReceived: 0, acked: 0, duplicates: 0, rejected: 0, streamErrors: 0,
    subscriberMessages: 0, droppedClosed: 0, readPauses: 0, overloadPauses: 0,
  };
  const maxInFlight = Math.max(1, deps.maxInFlightSamples ?? DEFAULT_MAX_IN_FLIGHT_SAMPLES);
  let inFlightSamples = 0;
  let closing = false;
  let boundAddress: string | null = null;

  const failStream = (s: AgentStream, err: unknown): void => {
    if (s.done) return;
    s.done = true;
    counters.streamErrors++;
    const level = isAppError(err) && err.code !== 'INTERNAL' ? 'warn' : 'error';
    log[level]({ peer: s.peer, code: isAppError(err) ? err.code : 'INTERNAL', err }, 'agent stream ended with an error');
    endWithError(s.call, err);
  };

  /** Reads a stream only while it holds less than its share of the in-flight budget. */
  const updateFlow = (s: AgentStream): void => {
    if (s.done) return;
    const share = maxInFlight / Math.max(1, streams.size);
    const overShare = s.pendingSamples > 0 && s.pendingSamples >= share;
    const pause = closing || overShare || s.pending >= MAX_PENDING_PER_STREAM;
    if (pause === s.paused) return;
    s.paused = pause;
    if (pause) {
      if (overShare) counters.overloadPauses++;
      s.call.pause();
    } else {
      s.call.resume();
    }
  };

  const addInFlight = (s: AgentStream, n: number): void => {
    inFlightSamples += n;
    s.pendingSamples += n;
  };

  /**
   * Starts ingesting one received message at once and resolves with the ack to send (null:
   * nothing to send). Rejects when the stream must end: the chain reports it after the acks
   * of every earlier batch are written.
   */
  const startIngest = (batch: MetricBatch): Promise<BatchAck> => {
    try { return deps.ingest(batch); } catch (err) { return Promise.reject(err); }
  };

  /** handleBatch once `authorized` settled; a function of its own so no closure in the caller holds `raw`. */
  const handleAfter = (authorized: Promise<void>, s: AgentStream, raw: unknown, arrivedWhileClosing: boolean): Promise<MetricResponseWire | null> =>
    authorized.then(() => handleBatch(s, raw, arrivedWhileClosing));

  const handleBatch = (s: AgentStream, bytes: unknown, arrivedWhileClosing: boolean): Promise<MetricResponseWire | null> => {
    if (s.done || arrivedWhileClosing) return Promise.resolve(null); // not acked: the agent resends it
    const raw = decodeBatch(bytes);
    if (isDecodeFailure(raw)) return Promise.reject(invalidArgument('MetricData', `cannot decode message: ${raw.decodeError}`));
    const wire = raw as MetricDataWire;
    let batch: MetricBatch;
    try {
      batch = metricDataFromWire(wire, deps.limits);
    } catch (err) {
      // Without a valid identity no ack can name the batch: the stream ends (the caller reports it).
      if (!isAppError(err) || IDENTITY_FIELDS.has(err.field ?? '')) return Promise.reject(err);
      const identity = batchIdentity(wire); // valid: metricDataFromWire checks it first
      counters.rejected++;
      log.warn({ agentId: identity.agentId, sequence: identity.sequence, field: err.field, reason: err.message },
        'batch rejected');
      return Promise.resolve(ackToWire({ ...identity, status: 'rejected', message: err.message }));
    }
    s.agentId ??= batch.agentId;
    const samples = batch.containers.length + (batch.host ? 1 : 0);
    addInFlight(s, samples);
    // Not an async function: its frame would keep the decoded batch alive until the ack; the
    // callbacks below only need the count (see ingest.ts on why that matters for the GC).
    return startIngest(batch).then((ack) => {
      addInFlight(s, -samples);
      if (ack.status === 'ack') counters.acked++;
      else if (ack.status === 'duplicate') counters.duplicates++;
      else counters.rejected++;
      return ackToWire(ack);
    }, (err: unknown) => {
      addInFlight(s, -samples);
      // Not acked: the stream ends so the agent reconnects (with backoff) and resends.
      throw isAppError(err) ? err : new AppError('UNAVAILABLE', 'ingest failed, retry later', { cause: err });
    });
  };

  const streamMetrics = (call: grpc.ServerDuplexStream<unknown, unknown>): void => {
    if (closing) {
      endWithError(call, new AppError('UNAVAILABLE', 'server shutting down'));
      return;
    }
    const authorized = Promise.resolve().then(() => deps.authorize?.(call.metadata, 'StreamMetrics'));
    const s: AgentStream = {
      call, chain: Promise.resolve(), done: false, pending: 0, pendingSamples: 0, paused: false, peer: call.getPeer(),
      agentId: null, commands: announcesCommands(call.metadata),
    };
    streams.add(s);
    updateFlow(s);
    let isAuthorized = false;
    s.chain = authorized.then(
      // Headers now, so the client knows it is connected before the first ack.
      () => { isAuthorized = true; if (!s.done) call.sendMetadata(new grpc.Metadata()); },
      (err) => failStream(s, err),
    );
    call.on('data', (raw: unknown) => {
      counters.batchesReceived++;
      const whileClosing = closing;
      s.pending++;
      if (s.pending === MAX_PENDING_PER_STREAM) counters.readPauses++;
      // Ingest starts now (after authorisation); acks go out in arrival order.
      const answer = isAuthorized ? handleBatch(s, raw, whileClosing) : handleAfter(authorized, s, raw, whileClosing);
      answer.catch(() => undefined); // reported through the chain, in order
      updateFlow(s);
      s.chain = s.chain
        .then(() => answer)
        .then((wire) => { if (wire && !s.done) s.call.write(wire); }, (err) => failStream(s, err))
        .catch((err) => failStream(s, err))
        .finally(() => {
          s.pending--;
          updateFlow(s);
        });
    });
    call.on('end', () => {
      // The agent half-closed: answer what is in flight, then finish the call.
      void s.chain.then(() => {
        if (!s.done) { s.done = true; call.end(); }
      });
    });
    const forget = (): void => { s.done = true; streams.delete(s); };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('error', () => { /* status already chosen; keep the process alive */ });
  };

  // ---------- subscribers ----------

  const pump = (sub: Subscriber): void => {
    while (!sub.closed && !sub.waitingDrain && sub.queue.length > 0) {
      const msg = sub.queue.shift()!;
      counters.subscriberMessages++;
      if (!sub.call.write(msg)) {
        sub.waitingDrain = true;
        sub.call.once('drain', () => { sub.waitingDrain = false; pump(sub); });
      }
    }
  };

  const enqueue = (sub: Subscriber, batch: MetricBatch): void => {
    if (sub.closed) return;
    if (sub.queue.length >= queueLimit) {
      sub.queue.shift();
      sub.dropped++;
    }
    sub.queue.push(metricDataToWire(batch));
    pump(sub);
  };

  const closeSubscriber = (sub: Subscriber): void => {
    if (sub.closed) return;
    sub.closed = true;
    sub.busSub?.close();
    sub.queue.length = 0;
    counters.droppedClosed += sub.dropped;
    subscribers.delete(sub);
  };

  /** The latest sample of every matching container, one message per host. */
  const snapshot = (filter: SubscriptionFilter): MetricBatch[] => {
    const byAgent = new Map<string, MetricBatch>();
    const hostInfo = new Map(deps.latest.hosts().map((h) => [h.agentId, h]));
    const batchFor = (agentId: string, hostname: string): MetricBatch => {
      let b = byAgent.get(agentId);
      if (!b) {
        const info = hostInfo.get(agentId);
        b = {
          agentId, hostname, sequence: 0, timestampMs: 0,
          host: filter.includeHost ? info?.sample ?? null : null,
          containers: [], events: [], complete: false, intervalMs: info?.intervalMs ?? 0,
        };
        byAgent.set(agentId, b);
      }
      return b;
    };
    for (const c of deps.latest.containers()) {
      if (!filter.matchesContainer(c)) continue;
      const b = batchFor(c.agentId, c.host);
      const { host: _host, agentId: _agent, ...sample } = c;
      b.containers.push(sample);
      b.timestampMs = Math.max(b.timestampMs, c.timestampMs);
    }
    if (filter.includeHost) {
      for (const h of hostInfo.values()) {
        if (h.sample && filter.matchesHost(h.hostname, h.agentId)) {
          const b = batchFor(h.agentId, h.hostname);
          b.timestampMs = Math.max(b.timestampMs, h.sample.timestampMs);
        }
      }
    }
    return [...byAgent.values()];
  };

  const subscribeToMetrics = async (call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> => {
    let filter: SubscriptionFilter;
    try {
      if (closing) throw new AppError('UNAVAILABLE', 'server shutting down');
      if (deps.authorize) await deps.authorize(call.metadata, 'SubscribeToMetrics');
      if (subscribers.size >= maxSubscribers) {
        throw new AppError('RESOURCE_EXHAUSTED', `too many subscribers (limit ${maxSubscribers})`, { retryAfterMs: 5000 });
      }
      if (isDecodeFailure(call.request)) {
        throw invalidArgument('SubscriptionRequest', `cannot decode message: ${call.request.decodeError}`);
      }
      filter = compileSubscriptionFilter(subscriptionFromWire(call.request as SubscriptionRequestWire));
    } catch (err) {
      log.warn({ peer: call.getPeer(), code: isAppError(err) ? err.code : 'INTERNAL', reason: (err as Error).message },
        'subscription refused');
      endWithError(call, err);
      return;
    }
    if (call.cancelled) return;
    const sub: Subscriber = { call, busSub: null, queue: [], waitingDrain: false, dropped: 0, closed: false };
    subscribers.add(sub);
    call.on('cancelled', () => closeSubscriber(sub));
    call.on('close', () => closeSubscriber(sub));
    call.on('error', () => closeSubscriber(sub));
    // Subscribe before reading the snapshot, in the same tick: bus deliveries come later, so
    // nothing falls between the snapshot and the first live batch.
    sub.busSub = deps.bus.subscribe((batch) => {
      const mine = filter.filterBatch(batch);
      if (mine) enqueue(sub, mine);
    });
    // Headers first, so a client can tell "connected, nothing matches yet" from "no answer".
    call.sendMetadata(new grpc.Metadata());
    for (const b of snapshot(filter)) enqueue(sub, b);
    log.info({ peer: call.getPeer(), subscribers: subscribers.size }, 'subscriber connected');
  };

  server.addService(tolerantService(), {
    StreamMetrics: streamMetrics as grpc.handleBidiStreamingCall<unknown, unknown>,
    SubscribeToMetrics: ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      void subscribeToMetrics(call);
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
      if (closing) return;
      closing = true;
      // 1. No new connections.
      if (boundAddress) {
        try { server.unbind(boundAddress); } catch { /* already gone */ }
      }
      // 2. Subscribers just end; they reconnect elsewhere.
      for (const sub of [...subscribers]) {
        closeSubscriber(sub);
        sub.call.end();
      }
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
      log.info(this.stats(), 'gRPC server closed');
    },

    sendCommand(agentId, cmd) {
      if (closing) return false;
      let target: AgentStream | null = null;
      // Commands are rare: a scan of the streams costs nothing next to a batch.
      for (const s of streams) if (s.commands && !s.done && s.agentId === agentId) target = s;
      if (!target) return false;
      target.call.write(commandToWire(agentId, cmd));
      log.info({ agentId, commandId: cmd.id, kind: cmd.kind, containerId: cmd.containerId, peer: target.peer }, 'command sent to agent');
      return true;
    },

    stats() {
      let dropped = counters.droppedClosed;
      for (const s of subscribers) dropped += s.dropped;
      return {
        agentStreams: streams.size,
        subscribers: subscribers.size,
        batchesReceived: counters.batchesReceived,
        acked: counters.acked,
        duplicates: counters.duplicates,
        rejected: counters.rejected,
        streamErrors: counters.streamErrors,
        readPauses: counters.readPauses,
        overloadPauses: counters.overloadPauses,
        inFlightSamples,
        subscriberMessages: counters.subscriberMessages,
        subscriberDropped: dropped,
      };
    },
  };
}
