// A real gRPC server wired to the real in-memory adapters and the ingest use case, on 127.0.0.1:0.
import * as grpc from '@grpc/grpc-js';
import { createGrpcServer, type GrpcServer, type GrpcServerDeps } from '../../src/infrastructure/grpc/server.js';
import { loadMetricsService } from '../../src/infrastructure/grpc/proto.js';
import { createIngest } from '../../src/application/ingest.js';
import { createMemoryBus, type MemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { createMemoryLedger } from '../../src/infrastructure/memory/ledger.js';
import type { BatchSink, LatestStore, SequenceLedger } from '../../src/application/ports.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { testLogger } from './grpc-fixtures.js';

export interface Harness {
  server: GrpcServer;
  port: number;
  address: string;
  written: MetricBatch[];
  bus: MemoryBus;
  latest: LatestStore;
  ledger: SequenceLedger;
  log: ReturnType<typeof testLogger>;
}

export async function startServer(opts: Partial<GrpcServerDeps> & {
  port?: number; sink?: BatchSink; written?: MetricBatch[]; ledger?: SequenceLedger; latest?: LatestStore; bus?: MemoryBus;
} = {}): Promise<Harness> {
  const written = opts.written ?? [];
  const bus = opts.bus ?? createMemoryBus();
  const latest = opts.latest ?? createMemoryLatestStore();
  const ledger = opts.ledger ?? createMemoryLedger();
  const log = testLogger();
  const sink: BatchSink = opts.sink ?? { writeBatch: async (b) => { written.push(b); } };
  const server = createGrpcServer({
    ingest: createIngest({ ledger, sink, latest, bus, log }),
    bus, latest, log, ...opts,
  });
  const port = await server.listen('127.0.0.1', opts.port ?? 0);
  return { server, port, address: `127.0.0.1:${port}`, written, bus, latest, ledger, log };
}

export type RawClient = grpc.Client & {
  StreamMetrics(md?: grpc.Metadata): grpc.ClientDuplexStream<unknown, any>;
  SubscribeToMetrics(req: unknown, md?: grpc.Metadata): grpc.ClientReadableStream<any>;
};

export function rawClient(address: string, options: grpc.ClientOptions = {}): RawClient {
  const Ctor = loadMetricsService();
  return new Ctor(address, grpc.credentials.createInsecure(), options) as unknown as RawClient;
}

/** Collects everything a stream returns until it ends, plus its final status. */
export function collect<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>):
  { items: T[]; status: Promise<grpc.StatusObject> } {
  const items: T[] = [];
  call.on('data', (d: T) => items.push(d));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { items, status };
}
