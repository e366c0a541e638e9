// An in-memory ControlStore for route and page tests (the SQLite and Redis adapters have their
// own contract tests; test/unit/memory-control-store.test.ts runs the same contract on this one).
// Values are copied in and out, so a caller cannot change what is stored by mutating a result.
import type { AuditQuery, ContainerKey, ControlStore } from '../../src/application/control-ports.js';
import { AppError } from '../../src/application/errors.js';
import type { Acknowledgement, AuditEvent, AutohealAttempt, Silence } from '../../src/domain/control.js';

const DAY = 86_400_000;
const ACK_TTL_MS = 30 * DAY;

export interface MemoryControlStore extends ControlStore {
  /** Everything appended, oldest first (for assertions). */
  readonly auditLog: readonly AuditEvent[];
  readonly silences: ReadonlyMap<string, Silence>;
}

export function createMemoryControlStore(): MemoryControlStore {
  const silences = new Map<string, Silence>();
  const acks = new Map<string, Acknowledgement>();
  const audit: AuditEvent[] = [];
  const attempts = new Map<string, AutohealAttempt[]>();
  const gaveUp = new Map<string, number>();
  const kv = new Map<string, string>();
  let closed = false;

  const copy = <T>(v: T): T => structuredClone(v);
  const key = (c: ContainerKey): string => `${c.host}\u0000${c.containerId}`;
  const open = (): void => { if (closed) throw new AppError('UNAVAILABLE', 'control store is closed'); };
  const call = <T>(fn: () => T): Promise<T> => {
    try { open(); return Promise.resolve(fn()); } catch (err) { return Promise.reject(err); }
  };

  return {
    get auditLog() { return audit.map(copy); },
    get silences() { return new Map([...silences].map(([k, v]) => [k, copy(v)])); },

    putSilence: (s) => call(() => { silences.set(s.id, copy(s)); }),
    getSilence: (id) => call(() => { const s = silences.get(id); return s ? copy(s) : null; }),
    listSilences: (sinceMs) => call(() => [...silences.values()].filter((s) => s.endsAtMs > sinceMs)
      .sort((a, b) => b.createdAtMs - a.createdAtMs).map(copy)),

    acknowledge: (ack) => call(() => {
      for (const [id, a] of acks) if (a.atMs < Date.now() - ACK_TTL_MS) acks.delete(id);
      const had = acks.get(ack.alertId);
      if (had) return copy(had);
      acks.set(ack.alertId, copy(ack));
      return copy(ack);
    }),
    getAcks: (ids) => call(() => {
      const out = new Map<string, Acknowledgement>();
      for (const id of ids) { const a = acks.get(id); if (a) out.set(id, copy(a)); }
      return out;
    }),

    appendAudit: (e) => call(() => { audit.push(copy(e)); }),
    listAudit: (q: AuditQuery) => call(() => {
      const out: AuditEvent[] = [];
      for (let i = audit.length - 1; i >= 0 && out.length < q.limit; i--) {
        const e = audit[i]!;
        if (q.fromMs !== undefined && e.atMs < q.fromMs) continue;
        if (q.toMs !== undefined && e.atMs > q.toMs) continue;
        if (q.action !== undefined && !e.action.startsWith(q.action)) continue;
        if (q.actor !== undefined && e.actor !== q.actor) continue;
        out.push(copy(e));
      }
      return out;
    }),

    autohealAttempts: (c) => call(() => (attempts.get(key(c)) ?? []).map(copy)),
    putAutohealAttempt: (c, a) => call(() => {
      const list = (attempts.get(key(c)) ?? []).filter((x) => x.commandId !== a.commandId && x.atMs >= Date.now() - DAY);
      list.push(copy(a));
      list.sort((x, y) => x.atMs - y.atMs);
      attempts.set(key(c), list);
    }),
    hostAutohealTimes: (host, sinceMs) => call(() => {
      const times: number[] = [];
      for (const [k, list] of attempts) if (k.startsWith(`${host}\u0000`)) for (const a of list) if (a.atMs >= sinceMs) times.push(a.atMs);
      return times.sort((a, b) => a - b);
    }),
    getGaveUp: (c) => call(() => gaveUp.get(key(c)) ?? null),
    setGaveUp: (c, atMs) => call(() => { if (atMs === null) gaveUp.delete(key(c)); else gaveUp.set(key(c), atMs); }),

    getValue: (k) => call(() => kv.get(k) ?? null),
    setValue: (k, v) => call(() => { kv.set(k, v); }),

    async close() { closed = true; },
  };
}
