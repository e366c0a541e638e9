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
//
// Several servers (replicas): `address` may list several host:port, or name a host with several
// addresses (server-targets.ts). The agent ranks them by rendezvous hash of spreadKey (its
// agent id), dials its first choice, and on a lost stream moves to the next of its ranking
// after the usual jittered backoff, resending its unacked batches there. Connected to another
// than its first choice, it tries its first choice again after a random delay in the
// rebalance window and, if it answers, half-closes the stream (the server acks what it has)
// and moves back: a restarted replica gets its agents back spread over that window, not all
// at once.
import * as grpc from '@grpc/grpc-js';
import type { BatchAck, MetricBatch } from '../../domain/types.js';
import type { AgentCommand } from '../../domain/control.js';
import type { Logger } from '../../application/ports.js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY, DEFAULT_MAX_MESSAGE_BYTES, loadMetricsService } from './proto.js';
import { rank, resolveTargets, type Resolve, type ServerTarget } from './server-targets.js';
import { ackFromWire, commandFromWire, metricDataToWire, type AgentCommandWire, type MetricResponseWire } from './mapping.js';

export interface AgentStreamOptions {
  /** host:port of the server's gRPC listener, or several comma-separated (a name may resolve to several). */
  address: string;
  /** Ranks the servers (rendezvous hash): the agent id, so an agent keeps its first choice. Random when absent. */
  spreadKey?: string;
  /** Resolves a host name to its addresses (default: node:dns, IPv4 preferred). */
  resolve?: Resolve;
  /** Connected to another than its first choice, try moving back after a random delay in [minMs, maxMs] (default 30-120 s). */
  rebalance?: { minMs: number; maxMs: number } | false;
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
  /** The server connected to (ip:port, or the name as given); null while not connected. */
  server: string | null;
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
  const log = opts.log.child({ component: 'grpc-agent', servers: opts.address });
  const queueSize = Math.max(1, opts.queueSize ?? 1000);
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const random = opts.random ?? Math.random;
  const spreadKey = opts.spreadKey ?? random().toString(36).slice(2);
  const rebalance = opts.rebalance === false ? null : opts.rebalance ?? { minMs: 30_000, maxMs: 120_000 };
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
  /** Ranked targets, first choice first (refreshed before each dial). */
  let ranked: ServerTarget[] = [];
  let current: ServerTarget | null = null;
  /** The next dial goes to the next target of the ranking (set by a lost stream). */
  let moveOn = false;
  /** Set while the stream is half-closed to move to this target. */
  let switchingTo: ServerTarget | null = null;
  let homeTimer: ReturnType<typeof setTimeout> | null = null;
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

  const scheduleReconnect = (minDelayMs = 0, now = false): void => {
    if (closed || reconnectTimer) return;
    const delay = now ? minDelayMs : Math.max(minDelayMs, backoffDelay(attempt++, backoff.initialMs, backoff.maxMs, random));
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
    clearHomeTimer();
    if (switchingTo) {
      // Our own half-close to move back to the first choice: go there now.
      log.info({ from: current?.address, to: switchingTo.address, queued: queue.length }, 'moving back to the first-choice server');
      current = switchingTo;
      switchingTo = null;
      moveOn = false;
      scheduleReconnect(0, true);
      return;
    }
    moveOn = true;
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
      log.warn({ code: grpc.status[code], details: status.details, queued: queue.length, server: current?.address }, 'metrics stream lost; reconnecting');
    }
    scheduleReconnect(Number.isFinite(retryAfter) ? retryAfter : 0);
  };

  const clearHomeTimer = (): void => {
    if (homeTimer) clearTimeout(homeTimer);
    homeTimer = null;
  };

  const channelOptions = (t: ServerTarget): grpc.ChannelOptions => ({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_send_message_length': maxBytes,
    // Dialled by IP from a resolved name: TLS checks, and :authority names, the host name.
    ...(t.hostname && !t.address.startsWith(`${t.hostname}:`)
      ? { 'grpc.ssl_target_name_override': t.hostname, 'grpc.default_authority': t.hostname } : {}),
  });

  /** Re-resolves, then picks: the same target, the next of the ranking after a loss, or the first choice. */
  async function chooseTarget(): Promise<ServerTarget> {
    try {
      const t = await resolveTargets(opts.address, opts.resolve);
      if (t.length > 0) ranked = rank(spreadKey, t);
    } catch (err) {
      if (ranked.length === 0) throw err;
    }
    const i = current ? ranked.findIndex((t) => t.address === current!.address) : -1;
    if (i < 0) return ranked[0]!;
    return moveOn ? ranked[(i + 1) % ranked.length]! : ranked[i]!;
  }

  /**
   * Connected to another than the first choice: after a random delay, probe it and move back if
   * it answers. With a name in the list, also on the first choice: the name is resolved again
   * then, and a server that came up since (a pod added) takes the agents that now rank it first.
   */
  const scheduleHome = (gen: number): void => {
    if (!rebalance || homeTimer) return;
    const named = ranked.some((t) => t.hostname !== undefined);
    if (!named && (ranked.length < 2 || current?.address === ranked[0]?.address)) return;
    const delay = rebalance.minMs + random() * Math.max(0, rebalance.maxMs - rebalance.minMs);
    homeTimer = setTimeout(() => {
      homeTimer = null;
      if (gen !== generation || closed || !connected) return;
      void chooseTarget().then(() => {
        const home = ranked[0]!;
        if (gen !== generation || closed || !connected) return;
        if (home.address === current?.address) { scheduleHome(gen); return; }
        const probe = new grpc.Client(home.address, creds, channelOptions(home));
        probe.waitForReady(Date.now() + 500, (err) => {
          probe.close();
          if (err) { scheduleHome(gen); return; }
          // Probes that waited while the server was starting all succeed the moment it listens:
          // another random delay keeps them from moving back together.
          setTimeout(() => {
            if (gen !== generation || closed || !connected || !call) return;
            // Half-close: the server acks what it received and ends the call; onStatus then dials home.
            switchingTo = home;
            const c = call;
            call = null;
            c.end();
            setTimeout(() => { if (gen === generation && switchingTo) c.cancel(); }, 10_000).unref?.();
          }, random() * Math.min(2000, rebalance.minMs)).unref?.();
        });
      }, () => scheduleHome(gen));
    }, delay);
    homeTimer.unref?.();
  };

  function connect(): void {
    if (closed) return;
    const gen = ++generation;
    chooseTarget().then((t) => dial(gen, t), (err: unknown) => {
      if (gen !== generation || closed) return;
      log.warn({ err: (err as Error).message }, 'no server address resolved; retrying');
      scheduleReconnect();
    });
  }

  function dial(gen: number, target: ServerTarget): void {
    if (closed || gen !== generation) return;
    current = target;
    moveOn = false;
    client = new grpc.Client(target.address, creds, channelOptions(target));
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
      if (!connected) log.info({ queued: queue.length, server: target.address }, 'metrics stream connected');
      connected = true;
      scheduleHome(gen);
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
      clearHomeTimer();
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
      return { queued: queue.length, ...counters, connected, server: connected ? current?.address ?? null : null };
    },
  };
}
