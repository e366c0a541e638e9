// Loads proto/metrics.proto with @grpc/proto-loader. The file is found by walking up from
// this module to the package root, so it works from src/ (tsx) and from dist/ (tsc build).
//
// Loader options, used by server and client alike: camelCase field names (agentId), 64-bit
// integers as JS numbers (counters stay far below 2^53), enums as their names, defaults
// filled in (an absent field reads as 0 / "" / false; an absent message as null).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** gRPC's own default receive limit; server and agent share it. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export const SERVICE_NAME = 'dockwatch.v1.MetricsService';

/**
 * StreamMetrics call metadata: the agent lists what it can do beyond sending batches
 * (comma-separated). `commands`: it takes MetricResponse.command (proto/metrics.proto).
 */
export const CAPABILITIES_HEADER = 'x-dockwatch-capabilities';
export const COMMANDS_CAPABILITY = 'commands';

/** Absolute path of proto/metrics.proto, found from this file upwards. */
export function findProtoPath(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, 'proto', 'metrics.proto');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`proto/metrics.proto not found above ${start}`);
    dir = parent;
  }
}

let cached: grpc.ServiceClientConstructor | null = null;

/** The MetricsService definition (client constructor; `.service` is the server definition). */
export function loadMetricsService(protoPath?: string): grpc.ServiceClientConstructor {
  if (cached && protoPath === undefined) return cached;
  const def = protoLoader.loadSync(protoPath ?? findProtoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    dockwatch: { v1: { MetricsService: grpc.ServiceClientConstructor } };
  };
  const svc = pkg.dockwatch.v1.MetricsService;
  if (protoPath === undefined) cached = svc;
  return svc;
}
