// Opening a SQLite file the way every embedded store here needs it (node-sqlite3-wasm):
// - WAL journal. The WASM VFS has no shared-memory support, so WAL needs
//   locking_mode=EXCLUSIVE (one process owns the file, which is our case anyway);
//   synchronous=FULL fsyncs the WAL on every commit, so a resolved write survives kill -9
//   and power loss.
// - The VFS locks with a `<file>.lock` directory that a kill -9 leaves behind; an owner file
//   with our pid tells a stale lock (dead pid) from a live second process.
import fs from 'node:fs';
import sqlite from 'node-sqlite3-wasm';
import type { Database as Db } from 'node-sqlite3-wasm';
import { AppError } from '../../application/errors.js';

const { Database } = sqlite;

export interface OpenedDatabase {
  db: Db;
  /** What PRAGMA journal_mode answered ("wal" unless the file system refused). */
  journalMode: string;
  /** Closes the database (if still open) and gives up ownership of the file. */
  close(): void;
}

/** Files this process has open: our own pid in the owner file cannot tell a second open in-process from a stale lock. */
const held = new Set<string>();

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Clear the VFS lock directory a killed process left; refuse when a live process (or this one) holds it. */
function takeOwnership(file: string, field: string): void {
  if (held.has(file)) throw new AppError('CONFLICT', `${file} is already open in this process`, { field });
  const owner = `${file}.owner`;
  const lockDir = `${file}.lock`;
  if (fs.existsSync(lockDir)) {
    const pid = Number(fs.existsSync(owner) ? fs.readFileSync(owner, 'utf8').trim() : NaN);
    if (Number.isInteger(pid) && pid !== process.pid && pidAlive(pid)) {
      throw new AppError('CONFLICT', `${file} is in use by process ${pid}`, { field });
    }
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
  fs.writeFileSync(owner, String(process.pid));
  held.add(file);
}

function release(file: string): void {
  held.delete(file);
  fs.rmSync(`${file}.owner`, { force: true });
}

/** `file` must be an absolute path; `field` names the setting to blame in errors (DATA_DIR). */
export function openDatabase(file: string, field = 'DATA_DIR'): OpenedDatabase {
  takeOwnership(file, field);
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    release(file);
    throw new AppError('UNAVAILABLE', `cannot open ${file}: ${(err as Error).message}`, { field, cause: err });
  }
  let journalMode: string;
  try {
    db.exec('PRAGMA locking_mode=EXCLUSIVE');
    journalMode = String((db.get('PRAGMA journal_mode=WAL') as Record<string, unknown> | null)?.journal_mode);
    db.exec('PRAGMA synchronous=FULL');
  } catch (err) {
    // The first statement takes the VFS lock: a busy lock here is another process that won the race.
    if (db.isOpen) db.close();
    release(file);
    throw new AppError('UNAVAILABLE', `cannot open ${file}: ${(err as Error).message}`, { field, cause: err });
  }
  return {
    db,
    journalMode,
    close() {
      if (db.isOpen) db.close();
      release(file);
    },
  };
}

/** Runs fn in one IMMEDIATE transaction: all of it is committed (and fsynced), or none. */
export function transaction<T>(db: Db, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const r = fn();
    db.exec('COMMIT');
    return r;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
