// A MetricsStore wrapper that makes every write durable on local disk first, acks, and writes
// to the real store behind that (write-ahead spool).
// writeBatch / writeAlertEvent: encode once (the inner store's wire form), append to the
// fsynced spool (concurrent appends share one fdatasync), resolve: the record is durable, so
// ingest may ack. A writer drains the spool in order into the inner store through retry and
// the breaker, each round taking what has accumulated (up to drainChunkBytes): under load the
// database gets large requests, which is what InfluxDB handles best, and the ack never waits
// for the database's write latency. While the circuit is open nothing is drained and the
// spool grows, bounded by SPOOL_MAX_BYTES (then writes are refused and agents keep their
// batches); once the probe succeeds the backlog drains in order.
// A record the store refuses for good (bad data) is dropped with a log line, or it would
// block the spool forever. Reads go through the same breaker, without retries.
import path from 'node:path';
import type { MetricBatch } from '../../domain/types.js';
import type { AlertEvent, MetricsStore, StoreHealth } from '../../application/store-ports.js';
import type { Logger } from '../../application/ports.js';
import { countsAsFailure, isOpenCircuit, withBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { retry, type RetryOptions } from './retry.js';
import { openSpool, signal, type SpoolCodec } from './spool.js';

/** What the wrapped store offers: its wire form of a write, a codec for the spool, and the write itself. */
export interface EncodedWriter<E> {
  encodeBatch(batch: MetricBatch): E;
  encodeAlert(evt: AlertEvent): E;
  writeEncoded(e: E): Promise<void>;
  encodedCodec: SpoolCodec<E>;
  /** Ids it has written or seen, answered from memory (no database call). */
  knowsContainer(containerId: string): boolean;
  knowsHost(hostId: string): boolean;
}

export interface ResilientStoreOptions {
  /** DATA_DIR; the spool lives in DATA_DIR/spool. */
  dataDir: string;
  /** SPOOL_MAX_BYTES, default 512 MiB. */
  spoolMaxBytes?: number;
  /**
   * SPOOL_MAX_LAG_BYTES, default 256 MiB: while the circuit is closed and the spool holds more than
   * this, new writes wait for the writer to catch up (so acks slow down and agents hold back)
   * instead of piling up behind a database that is up but slower than the ingest. Well above the
   * steady backlog of large drain rounds (up to 60 MB at 75,000 points/s): 64 MiB made a database
   * pause of a second or two (a cache snapshot, a compaction) stall acks.
   */
  maxLagBytes?: number;
  spoolSegmentBytes?: number;
  breaker?: BreakerOptions;
  retry?: RetryOptions;
  /** How often the writer looks at the spool besides after each append, default 1 s. */
  replayIntervalMs?: number;
  /**
   * Spooled bytes handed to the store per round at most, default 8 MiB (a segment, about 23,000
   * lines): InfluxDB takes large requests for much less CPU per point.
   */
  drainChunkBytes?: number;
  /**
   * Rounds in flight at once, default 3. InfluxDB parses a request on one core and then writes
   * it to its WAL and cache; with two in flight it kept about one core busy and fell behind at
   * 80,000 points/s on the 2-core benchmark machine, with three it kept up at 84,000 for less
   * CPU than four smaller rounds took.
   */
  drainConcurrency?: number;
  log?: Logger;
}

export interface ResilientStore extends MetricsStore {
  breakerState(): BreakerState;
  onBreakerState(listener: (state: BreakerState) => void): void;
  /** Drain now (the writer also does it on its own); resolves with records written. */
  replayNow(): Promise<number>;
  /** Records (and bytes) acked but not yet in the store. */
  spoolStats(): { batches: number; bytes: number };
}

export async function createResilientStore<E>(inner: MetricsStore & EncodedWriter<E>, opts: ResilientStoreOptions): Promise<ResilientStore> {
  const log = opts.log;
  const spool = await openSpool<E>({
    dir: path.join(opts.dataDir, 'spool'), codec: inner.encodedCodec, ...(opts.spoolMaxBytes ? { maxBytes: opts.spoolMaxBytes } : {}),
    ...(opts.spoolSegmentBytes ? { segmentBytes: opts.spoolSegmentBytes } : {}), ...(log ? { log } : {}),
  });
  const breaker = withBreaker({ name: 'metrics-store', ...opts.breaker }, log);
  let lastError: string | undefined;
  let lastErrorAtMs: number | undefined;
  const remember = (err: unknown): void => { lastError = (err as Error)?.message ?? String(err); lastErrorAtMs = Date.now(); };

  const maxLagBytes = opts.maxLagBytes ?? 256 * 1024 * 1024;
  // Resolved (and replaced) after every round the writer finishes, and on breaker changes.
  let progress = signal();
  let closing = false;
  const progressed = (): void => { progress.resolve(); progress = signal(); };

  async function durable(e: E): Promise<void> {
    // An outage fills the spool (that is what it is for); a slow database holds the ingest back.
    while (!closing && breaker.state() === 'closed' && spool.stats().bytes > maxLagBytes) {
      kick();
      await progress.promise;
    }
    await spool.append(e); // RESOURCE_EXHAUSTED when full: the caller must not ack
    kick();
  }

  /** One round: the records up to the chunk limit, written together; an outage keeps them spooled. */
  async function writeChunk(items: E[]): Promise<void> {
    // Every attempt's writes, settled before this chunk settles: the items are views into a
    // buffer the spool reuses once the chunk is done, and an attempt the breaker timed out may
    // still be sending them.
    const attempts: Promise<unknown>[] = [];
    await retry(() => breaker.fire(async () => {
      const attempt = Promise.allSettled(items.map((e) => inner.writeEncoded(e)));
      attempts.push(attempt);
      const results = await attempt;
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const transient = failed.find((r) => countsAsFailure(r.reason));
      if (transient) throw transient.reason;
      for (const r of failed) log?.error({ reason: (r.reason as Error)?.message }, 'spooled record refused by the store; dropped');
    }), {
      ...opts.retry,
      shouldRetry: (e) => !isOpenCircuit(e),
      onRetry: (e, attempt, delayMs) => log?.warn({ attempt, delayMs, reason: (e as Error).message }, 'store write failed, retrying'),
    }).finally(async () => {
      await Promise.allSettled(attempts);
      setImmediate(progressed); // after the spool has moved its cursor
    });
  }

  let replaying = false;
  let backlogLogged = false;
  async function replay(): Promise<number> {
    if (replaying || spool.stats().batches === 0 || breaker.state() === 'open') return 0;
    replaying = true;
    let n = 0;
    try {
      n = await spool.drain(writeChunk, { bytes: opts.drainChunkBytes ?? 8 * 1024 * 1024, concurrency: opts.drainConcurrency ?? 3 });
      if (n > 0 && backlogLogged) { log?.info({ written: n, left: spool.stats().batches }, 'spool backlog written'); backlogLogged = false; }
      return n;
    } catch (err) {
      if (!isOpenCircuit(err)) remember(err);
      if (!backlogLogged) { log?.warn({ spooled: spool.stats().batches, reason: (err as Error)?.message }, 'store unavailable: batches stay in the spool'); backlogLogged = true; }
      return 0;
    } finally {
      replaying = false;
      // Appends that landed while this round was finishing found it running: go again.
      if (n > 0 && spool.stats().batches > 0) kick();
    }
  }
  let kicked = false;
  const kick = (): void => {
    if (kicked) return;
    kicked = true;
    setImmediate(() => { kicked = false; void replay(); });
  };
  breaker.onStateChange((s) => { progressed(); if (s !== 'open') kick(); });
  const timer = setInterval(() => { void replay(); }, opts.replayIntervalMs ?? 1000);
  timer.unref();
  if (spool.stats().batches > 0) {
    log?.info(spool.stats(), 'spool holds batches from an earlier run: writing them');
    kick();
  }

  // Only calls that reach the database go through the breaker: an answer from memory (health,
  // an id already seen) counted as a success, so a health probe every few seconds reset the
  // failure streak (the circuit never opened while InfluxDB was down) or, as the half-open
  // probe, closed the circuit with InfluxDB still down.
  const read = <T>(fn: () => Promise<T>): Promise<T> => breaker.fire(fn);

  return {
    writeBatch: (batch) => durable(inner.encodeBatch(batch)),
    writeAlertEvent: (evt) => durable(inner.encodeAlert(evt)),
    queryContainer: (q) => read(() => inner.queryContainer(q)),
    queryHost: (q) => read(() => inner.queryHost(q)),
    latestContainer: (id) => read(() => inner.latestContainer(id)),
    hasContainer: (id) => (inner.knowsContainer(id) ? Promise.resolve(true) : read(() => inner.hasContainer(id))),
    hasHost: (id) => (inner.knowsHost(id) ? Promise.resolve(true) : read(() => inner.hasHost(id))),
    queryAlerts: (q) => read(() => inner.queryAlerts(q)),
    queryEvents: (q) => read(() => inner.queryEvents(q)),
    async health(): Promise<StoreHealth> {
      const s = spool.stats();
      let innerHealth: StoreHealth | undefined;
      if (breaker.state() !== 'open') innerHealth = await inner.health().catch(() => undefined);
      const backend = innerHealth?.backend ?? 'influxdb';
      return {
        ...innerHealth, backend, ok: breaker.state() === 'closed' && (innerHealth?.ok ?? false),
        breaker: breaker.state(), spoolBatches: s.batches, spoolBytes: s.bytes,
        lastError: lastError ?? null, lastErrorAtMs: lastErrorAtMs ?? null,
      };
    },
    breakerState: () => breaker.state(),
    onBreakerState: (l) => breaker.onStateChange(l),
    replayNow: replay,
    spoolStats: () => { const s = spool.stats(); return { batches: s.batches, bytes: s.bytes }; },
    async close() {
      clearInterval(timer);
      closing = true;
      progressed();
      // Write what is spooled while the store answers; what is left stays for the next start.
      if (breaker.state() === 'closed') await replay().catch(() => 0);
      await spool.close();
      breaker.shutdown();
      await inner.close();
    },
  };
}
