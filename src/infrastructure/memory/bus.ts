// In-process live fan-out. publish() only appends to each subscriber's own bounded queue and
// schedules delivery with setImmediate, so a slow or throwing handler never stalls ingestion
// or the other subscribers. When a queue is full the oldest batch goes and is counted.
import type { MetricBatch } from '../../domain/types.js';
import type { Logger, MetricsBus, Subscription } from '../../application/ports.js';

export interface MemoryBusOptions {
  /** Batches kept per subscriber before the oldest is dropped (default 1000). */
  queueSize?: number;
  log?: Logger;
}

export interface MemoryBus extends MetricsBus {
  stats(): { subscribers: number; published: number; dropped: number };
}

interface Sub {
  handler: (batch: MetricBatch) => void;
  queue: MetricBatch[];
  scheduled: boolean;
  closed: boolean;
  dropped: number;
}

export function createMemoryBus(opts: MemoryBusOptions = {}): MemoryBus {
  const queueSize = Math.max(1, opts.queueSize ?? 1000);
  const subs = new Set<Sub>();
  let published = 0;
  let droppedClosed = 0;

  const drain = (sub: Sub): void => {
    sub.scheduled = false;
    // Deliver what is queued now; later arrivals get their own turn so others interleave.
    const batch = sub.queue.splice(0, sub.queue.length);
    for (const b of batch) {
      if (sub.closed) return;
      try {
        sub.handler(b);
      } catch (err) {
        opts.log?.warn({ err }, 'bus subscriber threw');
      }
    }
  };

  return {
    publish(batch: MetricBatch): void {
      published++;
      for (const sub of subs) {
        if (sub.queue.length >= queueSize) {
          sub.queue.shift();
          sub.dropped++;
        }
        sub.queue.push(batch);
        if (!sub.scheduled) {
          sub.scheduled = true;
          setImmediate(() => drain(sub));
        }
      }
    },
    subscribe(handler: (batch: MetricBatch) => void): Subscription {
      const sub: Sub = { handler, queue: [], scheduled: false, closed: false, dropped: 0 };
      subs.add(sub);
      return {
        close() {
          if (sub.closed) return;
          sub.closed = true;
          sub.queue.length = 0;
          droppedClosed += sub.dropped;
          subs.delete(sub);
        },
        get dropped() { return sub.dropped; },
      };
    },
    stats() {
      let dropped = droppedClosed;
      for (const s of subs) dropped += s.dropped;
      return { subscribers: subs.size, published, dropped };
    },
  };
}
