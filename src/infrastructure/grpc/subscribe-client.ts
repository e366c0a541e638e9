// Client of SubscribeToMetrics for Node consumers (`dockwatch top`, the benchmark): batches
// arrive as domain MetricBatch objects, failures as AppError (UNAVAILABLE when the server
// cannot be reached, UNAUTHENTICATED / PERMISSION_DENIED when the token is refused,
// INVALID_ARGUMENT naming the filter field). No reconnection here: the caller decides.
import * as grpc from '@grpc/grpc-js';
import type { MetricBatch } from '../../domain/types.js';
import type { SubscriptionFilterInput } from '../../application/subscription-filter.js';
import { AppError } from '../../application/errors.js';
import { loadMetricsService } from './proto.js';
import { fromGrpcError } from './status.js';

export interface MetricsSubscriberOptions {
  address: string;
  /** Sent as `authorization: Bearer <token>`. */
  token?: string | undefined;
  /** true for TLS with the system roots, or custom roots (PEM). Default: plaintext. */
  tls?: boolean | { rootCerts?: Buffer };
  /** Largest message accepted from the server (default 64 MiB: a snapshot of a big fleet is large). */
  maxMessageBytes?: number;
}

/** (filter, onBatch, onError, onConnected?) => cancel; onError is called at most once and ends it. */
export type SubscribeFn = (
  filter: SubscriptionFilterInput,
  onBatch: (batch: MetricBatch) => void,
  onError: (err: AppError) => void,
  onConnected?: () => void,
) => () => void;

export interface MetricsSubscriber {
  subscribe: SubscribeFn;
  /** Closes the channel; open subscriptions end without an error. */
  close(): void;
}

/** The server already validated what it sends; this only fills gaps and drops wire-only shapes. */
export function batchFromServer(raw: Record<string, any>): MetricBatch {
  return {
    agentId: String(raw.agentId ?? ''),
    hostname: String(raw.hostname ?? ''),
    sequence: Number(raw.sequence ?? 0),
    timestampMs: Number(raw.timestampMs ?? 0),
    host: raw.host ?? null,
    containers: (raw.containers ?? []).map((c: Record<string, any>) => ({ ...c, labels: c.labels ?? {} })),
    events: (raw.events ?? []).map((e: Record<string, any>) => ({ ...e, attributes: e.attributes ?? {} })),
    complete: raw.complete === true,
    intervalMs: Number(raw.intervalMs ?? 0),
  };
}

export function createMetricsSubscriber(opts: MetricsSubscriberOptions): MetricsSubscriber {
  const Ctor = loadMetricsService();
  const creds = opts.tls === undefined || opts.tls === false
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(opts.tls === true ? undefined : opts.tls.rootCerts);
  const client = new Ctor(opts.address, creds, {
    'grpc.max_receive_message_length': opts.maxMessageBytes ?? 64 * 1024 * 1024,
  }) as unknown as grpc.Client & {
    SubscribeToMetrics(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<Record<string, any>>;
  };
  let closing = false;

  const subscribe: SubscribeFn = (filter, onBatch, onError, onConnected) => {
    const md = new grpc.Metadata();
    if (opts.token) md.set('authorization', `Bearer ${opts.token}`);
    const call = client.SubscribeToMetrics({
      hosts: filter.hosts ?? [], containerIds: filter.containerIds ?? [], names: filter.names ?? [],
      labels: filter.labels ?? [], includeHost: filter.includeHost === true,
    }, md);
    let cancelled = false;
    let failed = false;
    const fail = (err: AppError): void => {
      if (failed || cancelled || closing) return;
      failed = true;
      onError(err);
    };
    call.on('metadata', () => { if (!cancelled) onConnected?.(); });
    call.on('data', (raw: Record<string, any>) => { if (!cancelled) onBatch(batchFromServer(raw)); });
    call.on('error', (err: grpc.ServiceError) => fail(fromGrpcError(err)));
    // A server that ends the stream cleanly (shutting down) still ends the subscription.
    call.on('end', () => fail(new AppError('UNAVAILABLE', 'the server ended the subscription')));
    return () => {
      cancelled = true;
      call.cancel();
    };
  };

  return {
    subscribe,
    close() {
      closing = true;
      client.close();
    },
  };
}
