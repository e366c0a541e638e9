// A MetricsStore wrapper that keeps ingesting while the real store is down.
// writeBatch: breaker closed and nothing spooled -> retry(write) through the breaker. On a
// transient failure, or while the circuit is open/half-open, or while older batches still
// wait in the spool (to keep order), the batch is appended to the fsynced spool and the call
// resolves: the batch is durable, so ingest may ack. A background replayer drains the spool
// through the breaker (its first write after resetTimeout is the half-open probe) in order,
// a chunk of batches per request. Bad data (INVALID_ARGUMENT...) is not an outage: it is
// rejected, never spooled. Reads go through the same breaker, without retries.
import path from 'node:path';
import type { MetricBatch } from '../../domain/types.js';
import type { AlertEvent, MetricsStore, StoreHealth } from '../../application/store-ports.js';
import type { Logger } from '../../application/ports.js';
import { countsAsFailure, isOpenCircuit, withBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { retry, type RetryOptions } from './retry.js';
import { openSpool } from './spool.js';

export interface ResilientStoreOptions {
  /** DATA_DIR; the spool lives in DATA_DIR/spool. */
  dataDir: string;
  /** SPOOL_MAX_BYTES, default 512 MiB. */
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
  breaker?: BreakerOptions;
  retry?: RetryOptions;
  /** How often the replayer looks at the spool, default 1 s. */
  replayIntervalMs?: number;
  /** Spooled records per replay request, default 20 (about 1,000 points with 50 containers). */
  replayChunk?: number;
  log?: Logger;
}

export interface ResilientStore extends MetricsStore {
  breakerState(): BreakerState;
  onBreakerState(listener: (state: BreakerState) => void): void;
  /** Drain now (the replayer also does it on its own); resolves with records replayed. */
  replayNow(): Promise<number>;
  spoolStats(): { batches: number; bytes: number };
}

type Record_ = { kind: 'batch'; batch: MetricBatch } | { kind: 'alert'; evt: AlertEvent };

export async function createResilientStore(inner: MetricsStore, opts: ResilientStoreOptions): Promise<ResilientStore> {
  const log = opts.log;
  const spool = await openSpool<Record_>({
    dir: path.join(opts.dataDir, 'spool'), ...(opts.spoolMaxBytes ? { maxBytes: opts.spoolMaxBytes } : {}),
    ...(opts.spoolSegmentBytes ? { segmentBytes: opts.spoolSegmentBytes } : {}), ...(log ? { log } : {}),
  });
  const breaker = withBreaker({ name: 'metrics-store', ...opts.breaker }, log);
  let lastError: string | undefined;
  let lastErrorAtMs: number | undefined;
  const remember = (err: unknown): void => { lastError = (err as Error)?.message ?? String(err); lastErrorAtMs = Date.now(); };

  const writeRecord = (r: Record_): Promise<void> => (r.kind === 'batch' ? inner.writeBatch(r.batch) : inner.writeAlertEvent(r.evt));

  async function durable(r: Record_): Promise<void> {
    if (breaker.state() === 'closed' && spool.stats().batches === 0) {
      try {
        await retry(() => breaker.fire(() => writeRecord(r)), {
          ...opts.retry,
          shouldRetry: (e) => !isOpenCircuit(e),
          onRetry: (e, attempt, delayMs) => log?.warn({ attempt, delayMs, reason: (e as Error).message }, 'store write failed, retrying'),
        });
        return;
      } catch (err) {
        if (!countsAsFailure(err)) throw err;
        remember(err);
      }
    }
    await spool.append(r);
    kick();
  }

  let replaying = false;
  async function replay(): Promise<number> {
    if (replaying || spool.stats().batches === 0 || breaker.state() === 'open') return 0;
    replaying = true;
    try {
      const n = await spool.drain(async (items) => {
        await breaker.fire(async () => {
          const results = await Promise.allSettled(items.map(writeRecord));
          const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          // An outage keeps the chunk in the spool; a record the store refuses for good (bad
          // data) is dropped with a log line, or it would block the spool forever.
          const transient = failed.find((r) => countsAsFailure(r.reason));
          if (transient) throw transient.reason;
          for (const r of failed) log?.error({ reason: (r.reason as Error)?.message }, 'spooled record refused by the store; dropped');
        });
      }, opts.replayChunk ?? 20);
      if (n > 0) log?.info({ replayed: n, left: spool.stats().batches }, 'spool replayed');
      return n;
    } catch (err) {
      if (!isOpenCircuit(err)) remember(err);
      return 0;
    } finally {
      replaying = false;
    }
  }
  const kick = (): void => { setImmediate(() => { void replay(); }); };
  breaker.onStateChange((s) => { if (s !== 'open') kick(); });
  const timer = setInterval(() => { void replay(); }, opts.replayIntervalMs ?? 1000);
  timer.unref();
  if (spool.stats().batches > 0) {
    log?.info(spool.stats(), 'spool holds batches from an earlier run: replaying');
    kick();
  }

  const read = <T>(fn: () => Promise<T>): Promise<T> => breaker.fire(fn);

  return {
    writeBatch: (batch) => durable({ kind: 'batch', batch }),
    writeAlertEvent: (evt) => durable({ kind: 'alert', evt }),
    queryContainer: (q) => read(() => inner.queryContainer(q)),
    queryHost: (q) => read(() => inner.queryHost(q)),
    latestContainer: (id) => read(() => inner.latestContainer(id)),
    hasContainer: (id) => read(() => inner.hasContainer(id)),
    hasHost: (id) => read(() => inner.hasHost(id)),
    queryAlerts: (q) => read(() => inner.queryAlerts(q)),
    async health(): Promise<StoreHealth> {
      const s = spool.stats();
      let innerHealth: StoreHealth | undefined;
      if (breaker.state() !== 'open') innerHealth = await read(() => inner.health()).catch(() => undefined);
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
      await spool.close();
      breaker.shutdown();
      await inner.close();
    },
  };
}
