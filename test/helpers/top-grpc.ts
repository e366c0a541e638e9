// A SubscribeToMetrics client for `dockwatch top` tests: plain @grpc/grpc-js on
// proto/metrics.proto. The lead's CLI wires the real client; this one is for the tests.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { MetricBatch } from '../../src/domain/types.js';
import type { TopSubscribe } from '../../src/infrastructure/tui/top.js';

const PROTO = fileURLToPath(new URL('../../proto/metrics.proto', import.meta.url));

type Client = grpc.Client & {
  SubscribeToMetrics(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<unknown>;
};

export function testGrpcSubscribe(server: string, token: string | undefined): TopSubscribe {
  const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    dockwatch: { v1: { MetricsService: new (addr: string, creds: grpc.ChannelCredentials) => Client } };
  };
  return (filter, onBatch, onError, onConnected) => {
    const client = new pkg.dockwatch.v1.MetricsService(server, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    const call = client.SubscribeToMetrics({
      hosts: filter.hosts ?? [], containerIds: filter.containerIds ?? [], names: filter.names ?? [],
      labels: filter.labels ?? [], includeHost: filter.includeHost === true,
    }, md);
    let cancelled = false;
    call.on('metadata', () => onConnected?.());
    // With camelCase names and defaults on, a decoded MetricData has the domain batch's shape.
    call.on('data', (d: unknown) => onBatch(d as MetricBatch));
    call.on('error', (err: grpc.ServiceError) => { if (!cancelled) onError(err); });
    call.on('end', () => {
      if (!cancelled) onError({ code: grpc.status.UNAVAILABLE, details: 'stream ended by server' });
    });
    return () => { cancelled = true; call.cancel(); client.close(); };
  };
}
