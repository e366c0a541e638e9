// SubscribeToMetrics, the server side: a snapshot of the latest samples, then live batches from
// the bus, through a bounded queue per subscriber (see server.ts for the rules).
import * as grpc from '@grpc/grpc-js';
import type { MetricBatch } from '../../domain/types.js';
import type { LatestStore, Logger, MetricsBus, Subscription } from '../../application/ports.js';
import { AppError, invalidArgument, isAppError } from '../../application/errors.js';
import { compileSubscriptionFilter, type SubscriptionFilter } from '../../application/subscription-filter.js';
import { metricDataToWire, subscriptionFromWire, type SubscriptionRequestWire } from './mapping.js';
import { endWithError, isDecodeFailure } from './server-calls.js';

interface Subscriber {
  call: grpc.ServerWritableStream<unknown, unknown>;
  busSub: Subscription | null;
  queue: Record<string, unknown>[];
  waitingDrain: boolean;
  dropped: number;
  closed: boolean;
}

export interface Subscribers {
  handler: (call: grpc.ServerWritableStream<unknown, unknown>) => Promise<void>;
  /** Ends every subscriber (they reconnect elsewhere). */
  endAll(): void;
  stats(): { subscribers: number; subscriberMessages: number; subscriberDropped: number };
}

export function createSubscribers(deps: {
  bus: MetricsBus;
  latest: LatestStore;
  authorize?: (metadata: grpc.Metadata, rpc: 'SubscribeToMetrics') => Promise<void>;
  log: Logger;
  queueLimit: number;
  maxSubscribers: number;
  state: { closing: boolean };
}): Subscribers {
  const { log, queueLimit, maxSubscribers, state } = deps;
  const subscribers = new Set<Subscriber>();
  const counters = { subscriberMessages: 0, droppedClosed: 0 };

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
      if (state.closing) throw new AppError('UNAVAILABLE', 'server shutting down');
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

  return {
    handler: subscribeToMetrics,
    endAll() {
      for (const sub of [...subscribers]) {
        closeSubscriber(sub);
        sub.call.end();
      }
    },
    stats() {
      let dropped = counters.droppedClosed;
      for (const s of subscribers) dropped += s.dropped;
      return { subscribers: subscribers.size, subscriberMessages: counters.subscriberMessages, subscriberDropped: dropped };
    },
  };
}
