// Agent side of StreamMetrics: one long-lived bidi stream, a bounded queue of batches the
// server has not acked yet, reconnection with exponential backoff and full jitter, and a
// resend of every unacked batch (in order) after each reconnect. The server drops what it
// already acked, so resending is always safe.
//
// Batches are serialised once, in send(): the queue holds the encoded bytes (smaller than
// the objects) and a batch too large for the server is refused here instead of poisoning
// the stream forever.
//
// Commands: with onCommand the call announces `x-dockwatch-capabilities: commands`, and the
// server may then send a MetricResponse with `command` set (sequence 0, no status) on the
// same stream; it goes to onCommand and is not an ack. Without onCommand nothing is
// announced and the server sends none.
import * as grpc from '@grpc/grpc-js';
import type { BatchAck, MetricBatch } from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import type { Logger } from '../../application/ports.js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY, DEFAULT_MAX_MESSAGE_BYTES, loadMetricsService } from './proto.js';
import { ackFromWire, commandFromWire, metricDataToWire, type AgentCommandWire, type MetricResponseWire } from './mapping.js';

export interface AgentStreamOptions {
  /** host:port of the server's gRPC listener. */
  address: string;
  /** Sent as `authorization: Bearer <token>`. */
  token?: string;
  /** Unacked batches kept; when full the oldest goes (default 1000). */
  queueSize?: number;
  log: Logger;
  /** true for TLS with the system roots, or custom roots (PEM). Default: plaintext. */
  tls?: boolean | { rootCerts?: Buffer };
  backoff?: { initialMs: number; maxMs: number };
  /** Largest batch sent; should match the server's limit (default 4 MiB). */
  maxMessageBytes?: number;
  onAck?: (ack: BatchAck) => void;
  /**
   * Takes the commands the server sends down the stream (autoheal restarts). When set, the
   * call announces the capability; a rejection or throw is logged, never fatal.
   */
  onCommand?: (cmd: AgentCommand) => void | Promise<void>;
  /** For tests: Math.random by default. */
  random?: () => number;
}

export interface AgentStreamStats {
  queued: number;
  dropped: number;
  acked: number;
  duplicates: number;
  rejected: number;
  connected: boolean;
  reconnects: number;
}

export interface AgentStream {
  /** Queues a batch and sends it as soon as the stream allows. Never blocks. */
  send(batch: MetricBatch): void;
  /** Takes no new batches, waits up to timeoutMs for acks of queued ones, then ends the stream. */
  close(timeoutMs: number): Promise<void>;
  stats(): AgentStreamStats;
}

interface Item {
  agentId: string;
  sequence: number;
  bytes: Buffer;
  /** Written on the current connection. */
  sent: boolean;
}

const STREAM_PATH = '/dockwatch.v1.MetricsService/StreamMetrics';

/** Full jitter: a random delay between 0 and the exponential cap (AWS architecture blog). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

export function createAgentStream(opts: AgentStreamOptions): AgentStream {
  const log = opts.log.child({ component: 'grpc-agent', server: opts.address });
  const queueSize = Math.max(1, opts.queueSize ?? 1000);
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const random = opts.random ?? Math.random;
  const svc = loadMetricsService();
  const serialize = svc.service.StreamMetrics!.requestSerialize;
  const deserialize = svc.service.StreamMetrics!.responseDeserialize as (b: Buffer) => MetricResponseWire;

  const creds = opts.tls === undefined || opts.tls === false
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(opts.tls === true ? undefined : opts.tls.rootCerts);

  const queue: Item[] = [];
  const counters = { dropped: 0, acked: 0, duplicates: 0, rejected: 0, reconnects: 0 };
  let connected = false;
  let closing = false;
  let closed = false;
  let attempt = 0;
  let generation = 0;
  let client: grpc.Client | null = null;
  let call: grpc.ClientDuplexStream<Buffer, MetricResponseWire> | null = null;
  let waitingDrain = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  const idleWaiters = new Set<() => void>();

  const notifyIfIdle = (): void => {
    if (queue.length > 0) return;
    for (const w of idleWaiters) w();
    idleWaiters.clear();
  };

  const pump = (): void => {
    if (!call || waitingDrain) return;
    for (const item of queue) {
      if (item.sent) continue;
      item.sent = true;
      if (!call.write(item.bytes)) {
        waitingDrain = true;
        const gen = generation;
        call.once('drain', () => {
          if (gen !== generation) return;
          waitingDrain = false;
          pump();
        });
        return;
      }
    }
  };

  const dropHead = (why: string): void => {
    const head = queue.shift();
    if (!head) return;
    counters.rejected++;
    log.error({ agentId: head.agentId, sequence: head.sequence, reason: why }, 'batch dropped: the server refuses it');
    notifyIfIdle();
  };

  const onAck = (wire: MetricResponseWire): void => {
    const ack = ackFromWire(wire);
    const i = queue.findIndex((q) => q.sequence === ack.sequence && q.agentId === ack.agentId);
    if (i >= 0) queue.splice(i, 1);
    if (ack.status === 'ack') counters.acked++;
    else if (ack.status === 'duplicate') counters.duplicates++;
    else {
      counters.rejected++;
      log.warn({ sequence: ack.sequence, reason: ack.message }, 'server rejected a batch; it will not be resent');
    }
    attempt = 0;
    opts.onAck?.(ack);
    notifyIfIdle();
  };

  const onCommandWire = (w: AgentCommandWire): void => {
    const cmd = commandFromWire(w);
    if (!cmd || !opts.onCommand) {
      log.warn({ commandId: w.id, kind: w.kind }, cmd ? 'command received without a handler; ignored' : 'malformed command ignored');
      return;
    }
    const handler = opts.onCommand;
    Promise.resolve().then(() => handler(cmd)).catch((err: unknown) => {
      log.error({ commandId: cmd.id, err }, 'command handler failed');
    });
  };

  const scheduleReconnect = (minDelayMs = 0): void => {
    if (closed || reconnectTimer) return;
    const delay = Math.max(minDelayMs, backoffDelay(attempt++, backoff.initialMs, backoff.maxMs, random));
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      counters.reconnects++;
      connect();
    }, delay);
  };

  const onStatus = (gen: number, status: grpc.StatusObject): void => {
    if (gen !== generation) return;
    connected = false;
    call = null;
    waitingDrain = false;
    client?.close();
    client = null;
    const code = status.code;
    const oversize = code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/i.test(status.details);
    if (code === grpc.status.INVALID_ARGUMENT || oversize) {
      // The server could not even name the batch it refuses; acks come in order, so it is
      // the oldest unacked one. Resending it would fail the same way forever.
      dropHead(`${grpc.status[code]}: ${status.details}`);
    }
    // A server that is shedding load may say how long to stay away.
    const retryAfter = Number(status.metadata?.get('retry-after-ms')[0] ?? 0);
    if (code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED) {
      log.error({ code: grpc.status[code], details: status.details }, 'server refused the agent token');
    } else if (code !== grpc.status.OK) {
      log.warn({ code: grpc.status[code], details: status.details, queued: queue.length }, 'metrics stream lost; reconnecting');
    }
    scheduleReconnect(Number.isFinite(retryAfter) ? retryAfter : 0);
  };

  function connect(): void {
    if (closed) return;
    const gen = ++generation;
    client = new grpc.Client(opts.address, creds, {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_send_message_length': maxBytes,
    });
    const md = new grpc.Metadata();
    if (opts.token) md.set('authorization', `Bearer ${opts.token}`);
    if (opts.onCommand) md.set(CAPABILITIES_HEADER, COMMANDS_CAPABILITY);
    const c = client.makeBidiStreamRequest<Buffer, MetricResponseWire>(
      STREAM_PATH, (b: Buffer) => b, deserialize, md,
    );
    call = c;
    for (const item of queue) item.sent = false;
    c.on('metadata', () => {
      if (gen !== generation) return;
      if (!connected) log.info({ queued: queue.length }, 'metrics stream connected');
      connected = true;
    });
    c.on('data', (wire: MetricResponseWire) => {
      if (gen !== generation) return;
      // proto-loader fills an absent message field with null: one check per ack.
      if (wire.command) onCommandWire(wire.command);
      else onAck(wire);
    });
    c.on('status', (st: grpc.StatusObject) => onStatus(gen, st));
    c.on('error', () => { /* reported through 'status' */ });
    pump();
  }

  connect();

  return {
    send(batch) {
      if (closing) {
        counters.dropped++;
        log.warn({ sequence: batch.sequence }, 'batch after close() dropped');
        return;
      }
      const bytes = serialize(metricDataToWire(batch));
      if (bytes.length > maxBytes) {
        counters.rejected++;
        log.error({ sequence: batch.sequence, bytes: bytes.length, maxBytes }, 'batch larger than the message limit dropped');
        return;
      }
      queue.push({ agentId: batch.agentId, sequence: batch.sequence, bytes, sent: false });
      if (queue.length > queueSize) {
        const old = queue.shift()!;
        counters.dropped++;
        // Log the first drop and then every hundredth, not one line per batch.
        if (counters.dropped === 1 || counters.dropped % 100 === 0) {
          log.warn({ dropped: counters.dropped, oldestSequence: old.sequence, queueSize },
            'agent queue full: dropping the oldest unacked batches');
        }
      }
      pump();
    },

    async close(timeoutMs) {
      if (closed) return;
      closing = true;
      if (queue.length > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, timeoutMs);
          function done(): void {
            clearTimeout(timer);
            idleWaiters.delete(done);
            resolve();
          }
          idleWaiters.add(done);
        });
      }
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = null;
      generation++;
      call?.end();
      // Give the half-close a moment to reach the server before the channel goes.
      const c = client;
      call = null;
      client = null;
      connected = false;
      if (c) setTimeout(() => c.close(), 50).unref?.();
      if (queue.length > 0) log.warn({ unacked: queue.length }, 'closed with unacked batches');
    },

    stats() {
      return { queued: queue.length, ...counters, connected };
    },
  };
}
