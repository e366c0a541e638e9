// StreamMetrics, the server side: agent batches to the ingest use case, acks in arrival order,
// and the flow control over the in-flight budget (see server.ts for the rules).
import * as grpc from '@grpc/grpc-js';
import type { BatchAck, MetricBatch } from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import type { Logger } from '../../application/ports.js';
import { AppError, invalidArgument, isAppError } from '../../application/errors.js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY } from './proto.js';
import {
  ackToWire, batchIdentity, commandToWire, IDENTITY_FIELDS, metricDataFromWire,
  type MetricDataWire, type MetricResponseWire, type ValidationLimits,
} from './mapping.js';
import { decodeMetricData } from './wire-decoder.js';
import { decodeOrFailure, endWithError, isDecodeFailure } from './server-calls.js';

export const MAX_PENDING_PER_STREAM = 64;

/** An agent batch's bytes, decoded with the hand-written decoder (same result as proto-loader, a fraction of the cost). */
const decodeBatch = (bytes: unknown): unknown => decodeOrFailure(decodeMetricData, bytes as Buffer);

export interface AgentStream {
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

/**
 * A paused call buffers at most one received message. grpc-js's server call is an object-mode
 * Readable with Node's default highWaterMark of 16: pause() only stops 'data' events, the
 * Readable went on pulling up to 16 batches per stream into memory. At 1,000 agents those
 * batches of streams paused by flow control were most of the server's RSS (BENCHMARKS.md §4);
 * with one, what a paused agent has sent waits in its HTTP/2 stream window (64 KiB, Node's
 * default; grpc-js has no server option for it) and then in the agent's own queue.
 */
function holdOneMessage(call: grpc.ServerDuplexStream<unknown, unknown>): void {
  const state = (call as unknown as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = 1;
}

/** Whether StreamMetrics call metadata lists the commands capability (comma-separated values). */
function announcesCommands(md: grpc.Metadata): boolean {
  for (const v of md.get(CAPABILITIES_HEADER)) {
    if (String(v).split(',').some((c) => c.trim() === COMMANDS_CAPABILITY)) return true;
  }
  return false;
}

export interface StreamCounters {
  batchesReceived: number; acked: number; duplicates: number; rejected: number; streamErrors: number;
  readPauses: number; overloadPauses: number;
}

export interface AgentStreams {
  handler: (call: grpc.ServerDuplexStream<unknown, unknown>) => void;
  streams: Set<AgentStream>;
  counters: StreamCounters;
  updateFlow(s: AgentStream): void;
  inFlightSamples(): number;
  /** Messages received and not yet handed to the handler, over all streams (at most one each, see holdOneMessage). */
  bufferedMessages(): number;
  /** The in-flight budget has been full for two checks in a row (the store is slower than the agents). */
  saturated(): boolean;
  stop(): void;
  /** The newest stream of that agent that takes commands, or null. */
  commandTarget(agentId: string): AgentStream | null;
  writeCommand(s: AgentStream, agentId: string, cmd: AgentCommand): void;
}

export function createAgentStreams(deps: {
  ingest: (batch: MetricBatch) => Promise<BatchAck>;
  authorize?: (metadata: grpc.Metadata, rpc: 'StreamMetrics') => Promise<void>;
  limits?: Partial<ValidationLimits>;
  log: Logger;
  maxInFlight: number;
  /** How often the budget is checked for saturation (default 5 s). */
  saturationCheckMs?: number;
  /** Read by the handlers: set once the server is closing. */
  state: { closing: boolean };
}): AgentStreams {
  const { log, maxInFlight, state } = deps;
  const streams = new Set<AgentStream>();
  const counters: StreamCounters = {
    batchesReceived: 0, acked: 0, duplicates: 0, rejected: 0, streamErrors: 0, readPauses: 0, overloadPauses: 0,
  };
  let inFlightSamples = 0;

  // Saturation: the budget full at two checks in a row means the store takes samples slower than
  // the agents send them. Flow control already holds the agents back (acks slow down, the agents
  // keep their batches queued, nothing is dropped here); this says so, once a minute at most,
  // instead of falling behind silently.
  let saturated = false;
  let wasFull = false;
  let lastWarnMs = 0;
  const saturationTimer = setInterval(() => {
    const full = inFlightSamples >= 0.9 * maxInFlight;
    const now = Date.now();
    if (full && wasFull) {
      if (!saturated || now - lastWarnMs >= 60_000) {
        lastWarnMs = now;
        log.warn({ inFlightSamples, maxInFlightSamples: maxInFlight, agentStreams: streams.size, overloadPauses: counters.overloadPauses },
          'ingest saturated: the store is slower than the agents send; acks are slowed (flow control) and agents keep their batches queued, nothing is dropped here');
      }
      saturated = true;
    } else if (saturated && !full) {
      saturated = false;
      log.info({ inFlightSamples, agentStreams: streams.size }, 'ingest no longer saturated');
    }
    wasFull = full;
  }, deps.saturationCheckMs ?? 5000);
  saturationTimer.unref();

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
    const pause = state.closing || overShare || s.pending >= MAX_PENDING_PER_STREAM;
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
    if (state.closing) {
      endWithError(call, new AppError('UNAVAILABLE', 'server shutting down'));
      return;
    }
    holdOneMessage(call);
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
      const whileClosing = state.closing;
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

  return {
    handler: streamMetrics,
    streams,
    counters,
    updateFlow,
    inFlightSamples: () => inFlightSamples,
    bufferedMessages: () => { let n = 0; for (const s of streams) n += s.call.readableLength; return n; },
    saturated: () => saturated,
    stop: () => clearInterval(saturationTimer),
    commandTarget(agentId) {
      let target: AgentStream | null = null;
      // Commands are rare: a scan of the streams costs nothing next to a batch.
      for (const s of streams) if (s.commands && !s.done && s.agentId === agentId) target = s;
      return target;
    },
    writeCommand: (s, agentId, cmd) => { s.call.write(commandToWire(agentId, cmd)); },
  };
}
