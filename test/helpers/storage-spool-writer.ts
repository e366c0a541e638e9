// Child process: a resilient store whose database is unreachable, so every acked batch sits
// in the spool. Prints "acked <i>" per resolved writeBatch; the parent kills it with -9.
import { createInfluxStore } from '../../src/infrastructure/influx/store.js';
import { createResilientStore } from '../../src/infrastructure/resilience/store.js';
import { containerIds, makeBatch } from './storage-batches.js';

const [dataDir, url, bucket] = process.argv.slice(2) as [string, string, string];
const store = await createResilientStore(createInfluxStore({ url, bucket, timeoutMs: 1000 }), {
  dataDir, breaker: { resetTimeoutMs: 60_000 }, retry: { initialDelayMs: 20 },
});
const ids = containerIds('spw', 5);
const t0 = Date.parse('2026-11-21T00:00:00Z');
for (let i = 0; ; i++) {
  await store.writeBatch(makeBatch('agent-spw', 'host-spw', ids, t0 + i * 1000, i));
  process.stdout.write(`acked ${i}\n`);
}
