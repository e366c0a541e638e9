// Ingest agent batches: drop what was already acked, show it live, make it durable, ack.
//
// Sequencing: each agent numbers its batches with a strictly increasing integer whose first
// value is the agent's wall clock (ms) at start-up, so a restarted agent never reuses numbers
// an earlier run already had acked, and the ledger needs nothing but "highest acked so far".
// A batch whose sequence is at or below that mark is a resend the server already has.
//
// Order of effects: live fan-out first (dashboards should not wait for the database; the
// publish is started, not awaited, and its failure only logged), then
// the latest-sample store, then the durable write. The ack waits for the durable write; when
// that fails with a retryable error the batch is NOT acked (the error propagates, the stream
// ends, the agent keeps the batch and resends it after reconnecting). Live subscribers may
// then see that batch twice, which is harmless for a live view.
//
// Pipelining (createIngest): the batches of one agent write concurrently, because one write
// at a time per agent caps an agent at 1/(write latency) batches per second, but they commit
// (ledger mark + ack) strictly in order. A batch is never marked before every earlier batch of
// its agent is: if one fails, the later ones fail too and are resent, and the store absorbs
// the repeated writes (same tags and timestamp = same point).
import type { BatchAck, MetricBatch } from '../domain/types.js';
import type { BatchSink, LatestStore, Logger, MetricsBus, SequenceLedger } from './ports.js';
import { AppError, isAppError } from './errors.js';

export interface IngestDeps {
  ledger: SequenceLedger;
  sink: BatchSink;
  latest: LatestStore;
  bus: MetricsBus;
  log: Logger;
  /** Called for every accepted (non-duplicate) batch, e.g. for ingest counters. */
  onBatch?: (batch: MetricBatch) => void;
}

export type Ingest = (batch: MetricBatch) => Promise<BatchAck>;

/** Which batch an ack names: all that is kept of a batch while its write is awaited. */
type BatchId = Pick<MetricBatch, 'agentId' | 'sequence'>;

const ack = (batch: BatchId, status: BatchAck['status'], message = ''): BatchAck =>
  ({ agentId: batch.agentId, sequence: batch.sequence, status, message });

/** How the sink took a batch: stored, refused for good, or not written at all (a resend). */
type Written = { kind: 'stored' } | { kind: 'refused'; err: AppError } | { kind: 'duplicate'; ack: BatchAck };
const STORED: Written = { kind: 'stored' };

/** Everything before the ack: dedupe, live fan-out, latest store, the durable write. */
function write(deps: IngestDeps, batch: MetricBatch): Promise<Written> {
  const last = deps.ledger.lastAcked(batch.agentId);
  if (last !== undefined && batch.sequence <= last) {
    return Promise.resolve({ kind: 'duplicate', ack: ack(batch, 'duplicate', `already have up to ${last}`) });
  }
  // Not awaited: the live view is best effort, and a bus that waits on a network (Redis
  // reconnecting) must not hold up the durable write or the ack.
  void publishLive(deps, batch);
  deps.latest.apply(batch);
  deps.onBatch?.(batch);
  // No closure here mentions `batch` (see createIngest): nothing holds it while the write is awaited.
  return startWrite(deps.sink, batch).then(stored, refusedOrThrow);
}

function startWrite(sink: BatchSink, batch: MetricBatch): Promise<void> {
  try { return sink.writeBatch(batch); } catch (err) { return Promise.reject(err); }
}
const stored = (): Written => STORED;
function refusedOrThrow(err: unknown): Written {
  if (isAppError(err) && !err.canRetry()) return { kind: 'refused', err };
  throw err;
}

function commit(deps: IngestDeps, batch: BatchId, w: Written): BatchAck {
  if (w.kind === 'duplicate') return w.ack;
  // A refused batch is marked too: resending a batch the sink refuses for good cannot help.
  deps.ledger.record(batch.agentId, batch.sequence);
  if (w.kind === 'stored') return ack(batch, 'ack');
  deps.log.warn({ agentId: batch.agentId, sequence: batch.sequence, code: w.err.code, reason: w.err.message },
    'batch refused by sink');
  return ack(batch, 'rejected', w.err.message);
}

/**
 * One batch on its own. Resolves with 'ack' once durable, 'duplicate' for a resend,
 * 'rejected' when the sink refuses the batch for good. Rejects (and so does not ack) when the
 * sink fails in a retryable way or with an unknown error: the agent will resend.
 */
export async function ingestBatch(deps: IngestDeps, batch: MetricBatch): Promise<BatchAck> {
  return commit(deps, batch, await write(deps, batch));
}

/** Ingest for a server: batches of one agent overlap their writes and commit in order. */
export function createIngest(deps: IngestDeps): Ingest {
  const agents = new Map<string, { highest: number; tail: Promise<BatchAck> }>();
  return (batch) => {
    const { agentId, sequence } = batch;
    const prev = agents.get(agentId);
    const before: Promise<unknown> = prev?.tail ?? Promise.resolve();
    let result: Promise<BatchAck>;
    if (prev && sequence <= prev.highest) {
      result = afterSettled(before, deps, batch);
    } else {
      const written = write(deps, batch);
      written.catch(() => undefined); // reported through `result`
      // The closures made here keep the batch's identity, not the batch (none of them uses
      // `batch`, so V8 does not keep it in their shared context): once the sink has encoded it,
      // its samples can be collected while the write is awaited. At high rates, batches kept
      // alive across the wait were much of what the young-generation GC had to copy.
      const id: BatchId = { agentId, sequence };
      result = before.then(
        async () => commit(deps, id, await written),
        () => {
          throw new AppError('UNAVAILABLE',
            `batch ${sequence} of agent ${agentId} waits for an earlier batch that was not stored; resend both`);
        });
    }
    const entry = { highest: Math.max(prev?.highest ?? 0, sequence), tail: result };
    agents.set(agentId, entry);
    const forget = (): void => { if (agents.get(agentId) === entry) agents.delete(agentId); };
    result.then(forget, forget);
    return result;
  };
}

/** A resend of a batch still in flight (the agent reconnected): decide once that one has settled. */
function afterSettled(before: Promise<unknown>, deps: IngestDeps, batch: MetricBatch): Promise<BatchAck> {
  return before.then(() => ingestBatch(deps, batch), () => ingestBatch(deps, batch));
}

function publishLive(deps: IngestDeps, batch: MetricBatch): Promise<void> {
  try {
    return Promise.resolve(deps.bus.publish(batch)).catch((err: unknown) => {
      deps.log.warn({ err, agentId: batch.agentId }, 'live publish failed');
    });
  } catch (err) {
    deps.log.warn({ err, agentId: batch.agentId }, 'live publish failed');
    return Promise.resolve();
  }
}
