// Child process for the kill -9 test: writes batches forever and prints the sequence of each
// batch once writeBatch resolved (= acked). The parent kills it mid-stream.
import { createSqliteStore } from '../../src/infrastructure/sqlite/store.js';
import { containerIds, makeBatch } from './storage-batches.js';

const dir = process.argv[2]!;
const store = createSqliteStore({ dataDir: dir, compactEveryMs: 0 });
const ids = containerIds('kill', 20);
const t0 = Date.now();
for (let i = 0; ; i++) {
  await store.writeBatch(makeBatch('agent-kill', 'host-kill', ids, t0 + i * 1000, i));
  process.stdout.write(`acked ${i}\n`);
}
