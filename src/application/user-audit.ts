// User changes in the audit trail. Users are changed with `dockwatch user add|remove` (it edits
// the users file; the server reads it at every login), so the server compares the file with the
// last snapshot it recorded and writes one audit event per user added, removed or changed. The
// file names who last changed it; the snapshot keeps a fingerprint of each hash, never the hash.
import type { Cooldown } from './alert-ports.js';
import type { ControlStore } from './control-ports.js';
import type { AuditInput } from './control.js';

export interface UsersView {
  users: { username: string; role: string; passwordHash: string }[];
  changedBy?: string;
}

export interface UserAuditDeps {
  read: () => Promise<UsersView>;
  store: Pick<ControlStore, 'getValue' | 'setValue'>;
  audit: (e: AuditInput) => Promise<void>;
  /** Replicas that share the file and the store record each change once. */
  claim: Cooldown;
  /** A short, non-reversible digest (e.g. the first 16 hex of a SHA-256). */
  fingerprint: (s: string) => string;
  keyPrefix?: string;
}

type Snapshot = Record<string, { role: string; fp: string }>;

const SNAPSHOT_KEY = 'users-snapshot';

/** Compares once; returns how many changes it recorded. */
export async function auditUserChanges(deps: UserAuditDeps): Promise<number> {
  const view = await deps.read();
  const next: Snapshot = {};
  for (const u of view.users) next[u.username] = { role: u.role, fp: deps.fingerprint(u.passwordHash) };
  const raw = await deps.store.getValue(SNAPSHOT_KEY);
  const nextText = JSON.stringify(next);
  if (raw === nextText) return 0;
  if (raw !== null && !(await deps.claim.tryAcquire(`${deps.keyPrefix ?? 'dockwatch:'}users-audit:${deps.fingerprint(raw + nextText)}`, 86_400_000))) return 0;
  const prev: Snapshot = raw === null ? {} : JSON.parse(raw) as Snapshot;
  const actor = view.changedBy ?? 'users file';
  const changes: AuditInput[] = [];
  for (const [name, u] of Object.entries(next)) {
    const old = prev[name];
    if (!old) changes.push({ actor, action: 'user.add', target: name, outcome: 'ok', details: { role: u.role } });
    else if (old.role !== u.role || old.fp !== u.fp) {
      changes.push({ actor, action: 'user.change', target: name, outcome: 'ok',
        details: { ...(old.role !== u.role ? { role: { from: old.role, to: u.role } } : {}), ...(old.fp !== u.fp ? { password: 'changed' } : {}) } });
    }
  }
  for (const name of Object.keys(prev)) if (!next[name]) changes.push({ actor, action: 'user.remove', target: name, outcome: 'ok', details: {} });
  // The first snapshot records the users already there, so the trail starts complete.
  for (const c of changes) await deps.audit(raw === null ? { ...c, details: { ...c.details, initial: true } } : c);
  await deps.store.setValue(SNAPSHOT_KEY, nextText);
  return changes.length;
}
