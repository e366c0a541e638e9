// SequenceLedger that survives a server restart without a database: the marks live in
// memory and are written to DATA_DIR/ledger.json (write to a temp file, then rename) at most
// once a second and at close. Losing the last second only means a few resends, which the
// stores absorb (idempotent writes).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger, SequenceLedger } from '../../application/ports.js';

export interface FileLedger extends SequenceLedger {
  flush(): void;
  close(): void;
}

export function createFileLedger(opts: { dataDir: string; flushEveryMs?: number; log?: Logger }): FileLedger {
  const file = path.join(opts.dataDir, 'ledger.json');
  const marks = new Map<string, number>();
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
    for (const [k, v] of Object.entries(saved)) if (Number.isFinite(v)) marks.set(k, v);
  } catch { /* first start or unreadable: start empty */ }
  let dirty = false;
  const flush = (): void => {
    if (!dirty) return;
    dirty = false;
    try {
      fs.mkdirSync(opts.dataDir, { recursive: true });
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(marks)));
      fs.renameSync(tmp, file);
    } catch (err) {
      dirty = true;
      opts.log?.warn({ reason: (err as Error).message }, 'ledger flush failed');
    }
  };
  const timer = setInterval(flush, opts.flushEveryMs ?? 1000);
  timer.unref();
  return {
    lastAcked: (agentId) => marks.get(agentId),
    record(agentId, sequence) {
      const prev = marks.get(agentId);
      if (prev === undefined || sequence > prev) { marks.set(agentId, sequence); dirty = true; }
    },
    flush,
    close() { clearInterval(timer); flush(); },
  };
}
