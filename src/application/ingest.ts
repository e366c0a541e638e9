// Ingest one agent batch: drop what was already acked, show it live, make it durable, ack.
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
import type { BatchAck, MetricBatch } from '../domain/types.js';
import type { BatchSink, LatestStore, Logger, MetricsBus, SequenceLedger } from './ports.js';
import { isAppError } from './errors.js';

export interface IngestDeps {
  ledger: SequenceLedger;
  sink: BatchSink;
  latest: LatestStore;
  bus: MetricsBus;
  log: Logger;
  /** Called for every accepted (non-duplicate) batch, e.g. for ingest counters. */
  onBatch?: (batch: MetricBatch) => void;
}

const ack = (batch: MetricBatch, status: BatchAck['status'], message = ''): BatchAck =>
  ({ agentId: batch.agentId, sequence: batch.sequence, status, message });

/**
 * Resolves with 'ack' once durable, 'duplicate' for a resend, 'rejected' when the sink refuses
 * the batch for good. Rejects (and so does not ack) when the sink fails in a retryable way
 * or with an unknown error: the agent will resend.
 */
export async function ingestBatch(deps: IngestDeps, batch: MetricBatch): Promise<BatchAck> {
  const last = deps.ledger.lastAcked(batch.agentId);
  if (last !== undefined && batch.sequence <= last) {
    return ack(batch, 'duplicate', `already have up to ${last}`);
  }

  // Not awaited: the live view is best effort, and a bus that waits on a network (Redis
  // reconnecting) must not hold up the durable write or the ack.
  void publishLive(deps, batch);
  deps.latest.apply(batch);
  deps.onBatch?.(batch);

  try {
    await deps.sink.writeBatch(batch);
  } catch (err) {
    if (isAppError(err) && !err.canRetry()) {
      deps.log.warn({ agentId: batch.agentId, sequence: batch.sequence, code: err.code, reason: err.message },
        'batch refused by sink');
      // Remember it anyway: resending a batch the sink refuses for good cannot help.
      deps.ledger.record(batch.agentId, batch.sequence);
      return ack(batch, 'rejected', err.message);
    }
    throw err;
  }

  deps.ledger.record(batch.agentId, batch.sequence);
  return ack(batch, 'ack');
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
