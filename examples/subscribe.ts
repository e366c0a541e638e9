// Subscribe to a Dockwatch server's live metrics from Node: a self-contained client that
// only needs @grpc/grpc-js, @grpc/proto-loader and proto/metrics.proto.
//
//   DOCKWATCH_GRPC_ADDR=127.0.0.1:50051 DOCKWATCH_TOKEN=... \
//     npx tsx examples/subscribe.ts --name 'web-*' --label env=prod [--host h1] [--id abc123] [--include-host] [--count 5]
//
// Prints one JSON line per MetricData. The first messages are the snapshot (sequence 0):
// the latest sample of every matching container, one message per host; live batches follow.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values } = parseArgs({
  options: {
    host: { type: 'string', multiple: true, default: [] },
    id: { type: 'string', multiple: true, default: [] },
    name: { type: 'string', multiple: true, default: [] },
    label: { type: 'string', multiple: true, default: [] },
    'include-host': { type: 'boolean', default: false },
    count: { type: 'string', default: '0' },
  },
});

const protoPath = fileURLToPath(new URL('../proto/metrics.proto', import.meta.url));
const def = protoLoader.loadSync(protoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
const { dockwatch } = grpc.loadPackageDefinition(def) as any;

const address = process.env.DOCKWATCH_GRPC_ADDR ?? '127.0.0.1:50051';
const client = new dockwatch.v1.MetricsService(address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
if (process.env.DOCKWATCH_TOKEN) metadata.set('authorization', `Bearer ${process.env.DOCKWATCH_TOKEN}`);

const request = {
  hosts: values.host, containerIds: values.id, names: values.name, labels: values.label,
  includeHost: values['include-host'],
};
const max = Number(values.count);
let seen = 0;
const call: grpc.ClientReadableStream<any> = client.SubscribeToMetrics(request, metadata);
call.on('data', (msg: any) => {
  console.log(JSON.stringify(msg));
  if (max > 0 && ++seen >= max) {
    call.cancel();
    client.close();
  }
});
call.on('error', (err: grpc.ServiceError) => {
  if (err.code === grpc.status.CANCELLED && max > 0 && seen >= max) return;
  console.error(`${grpc.status[err.code]}: ${err.details}`);
  process.exitCode = 1;
});
