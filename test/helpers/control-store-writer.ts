// Child process for the control store's durability and ownership tests.
//   write <dir>: appends audit events and sets kv values forever, printing "acked <i>" once each
//                write resolved; the parent kills it with SIGKILL mid-stream.
//   open <dir>:  tries to open the store and prints "opened" or "refused <code> <message>".
import { createSqliteControlStore } from '../../src/infrastructure/sqlite/control-store.js';
import { isAppError } from '../../src/application/errors.js';

const [mode, dir] = [process.argv[2], process.argv[3]!];
if (mode === 'open') {
  try {
    const store = createSqliteControlStore({ dataDir: dir });
    process.stdout.write('opened\n');
    await store.close();
  } catch (err) {
    process.stdout.write(`refused ${isAppError(err) ? err.code : 'other'} ${(err as Error).message}\n`);
  }
} else {
  const store = createSqliteControlStore({ dataDir: dir });
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    await store.appendAudit({ id: `k-${i}`, atMs: t0 + i, actor: 'writer', action: 'test.write', target: String(i), outcome: 'ok', details: { i } });
    await store.setValue('last', String(i));
    process.stdout.write(`acked ${i}\n`);
  }
}
