// Benchmark server process: the real gRPC server, ingest use case and store, as the server
// composition wires them (InfluxDB behind the resilient store, or the embedded store).
// Prints {"port": n} once listening; SIGTERM reports and exits.
import { createGrpcServer } from '../src/infrastructure/grpc/server.js';
import { createMemoryBus } from '../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../src/infrastructure/memory/latest-store.js';
import { createMemoryLedger } from '../src/infrastructure/memory/ledger.js';
import { createIngest } from '../src/application/ingest.js';
import { createInfluxStore } from '../src/infrastructure/influx/store.js';
import { createResilientStore } from '../src/infrastructure/resilience/store.js';
import { createSqliteStore } from '../src/infrastructure/sqlite/store.js';
import type { Logger } from '../src/application/ports.js';
import type { MetricsStore } from '../src/application/store-ports.js';

const cfg = JSON.parse(process.argv[2]!) as { store: 'influx' | 'sqlite' | 'null'; url?: string; bucket?: string; dataDir: string; maxConcurrentWrites?: number; resilient?: Record<string, unknown> };
const log: Logger = { debug() {}, info() {}, warn() {}, error: (o, m) => { console.error(m ?? '', o); }, child: () => log };

// 'null' resolves every write at once: it shows what the gRPC and ingest path cost alone.
const nullStore = { writeBatch: async () => undefined, health: async () => ({ backend: 'sqlite' as const, ok: true, null: true }), close: async () => undefined } as unknown as MetricsStore;
const inner: MetricsStore = cfg.store === 'null' ? nullStore : cfg.store === 'influx'
  ? await createResilientStore(createInfluxStore({ url: cfg.url!, bucket: cfg.bucket ?? 'dockwatch_bench', log, ...(cfg.maxConcurrentWrites ? { maxConcurrentWrites: cfg.maxConcurrentWrites } : {}) }), { dataDir: cfg.dataDir, log, ...cfg.resilient })
  : createSqliteStore({ dataDir: cfg.dataDir, log });
// Time spent inside the store, to tell it from the rest of the server.
const storeLat: number[] = [];
const store: MetricsStore = {
  ...inner,
  // Not async: an async wrapper would keep each batch alive until its write resolves (the server's
  // own path lets it go once encoded).
  writeBatch: (b) => { const s = performance.now(); return inner.writeBatch(b).then(() => { storeLat.push(performance.now() - s); }); },
  health: () => inner.health(), close: () => inner.close(),
};
const bus = createMemoryBus({ log });
const latest = createMemoryLatestStore();
const ledger = createMemoryLedger();
const server = createGrpcServer({
  ingest: createIngest({ ledger, sink: store, latest, bus, log }),
  bus, latest, log,
});
const memMax: Record<string, number> = {};
setInterval(() => { for (const [k, v] of Object.entries(process.memoryUsage())) memMax[k] = Math.max(memMax[k] ?? 0, Math.round(v / 1e6)); }, 250).unref();
const port = await server.listen('127.0.0.1', 0);
process.stdout.write(`${JSON.stringify({ port })}\n`);
// What reached the database and what still waits in the spool, once a second: acked is not
// yet stored when the database falls behind.
setInterval(() => {
  void inner.health().then((h) => {
    process.stdout.write(`${JSON.stringify({ stats: { atMs: Date.now(), linesWritten: h.linesWritten ?? null, spoolBatches: h.spoolBatches ?? 0, spoolBytes: h.spoolBytes ?? 0 } })}\n`);
  }, () => undefined);
}, 1000).unref();
process.on('SIGTERM', () => {
  void (async () => {
    await server.close(2000);
    const h = await store.health();
    const sorted = [...storeLat].sort((a, b) => a - b);
    const q = (p: number): number => Math.round((sorted[Math.floor(p * sorted.length)] ?? NaN) * 10) / 10;
    // Exit once the line is out, without writing the spool's backlog to InfluxDB (what a real
    // server's close does): that would load influxd into the next phase. The spool is in a temp dir.
    process.stderr.write(`memory max MB ${JSON.stringify(memMax)}; store health at exit: ${JSON.stringify(h)}; writeBatch inside the server: n=${sorted.length} p50=${q(0.5)} ms p95=${q(0.95)} ms\n`, () => process.exit(0));
  })();
});
