// The users file: JSON holding usernames, roles and scrypt hashes, never a plain password.
// Written atomically (temp file + rename) with mode 0600.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError, invalidArgument } from '../../application/errors.js';
import { hashPassword } from './passwords.js';
import { isRole, type Role } from '../../application/auth-ports.js';

export interface UserRecord {
  username: string;
  role: Role;
  password_hash: string;
  created_at: string;
}

interface UsersDoc { users: UserRecord[]; changed_by?: string; changed_at?: string }

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function validateUsername(name: string): void {
  if (!USERNAME.test(name)) {
    throw invalidArgument('username', 'use 1-64 letters, digits, . _ @ -, starting with a letter or digit');
  }
}

export function validatePassword(pw: string): void {
  if (pw.length < 8) throw invalidArgument('password', 'at least 8 characters');
  if (pw.length > 1024) throw invalidArgument('password', 'at most 1024 characters');
}

/** Every user in the file; a missing file means no users yet. */
export async function readUsers(file: string): Promise<UserRecord[]> {
  return (await readUsersDoc(file)).users;
}

/** The users and who last changed the file (the audit trail names them). */
export async function readUsersDoc(file: string): Promise<{ users: UserRecord[]; changedBy?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { users: [] };
    throw new AppError('UNAVAILABLE', `cannot read users file ${file}: ${(e as Error).message}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `users file ${file} is not valid JSON`, { field: 'USERS_FILE', cause: e });
  }
  const users = (doc as Partial<UsersDoc> | null)?.users;
  if (!Array.isArray(users)) {
    throw new AppError('INVALID_ARGUMENT', `users file ${file}: expected {"users": [...]}`, { field: 'USERS_FILE' });
  }
  const changedBy = (doc as Partial<UsersDoc>).changed_by;
  return {
    users: users.filter((u): u is UserRecord =>
      typeof u?.username === 'string' && isRole(u.role) && typeof u.password_hash === 'string'),
    ...(typeof changedBy === 'string' ? { changedBy } : {}),
  };
}

export async function writeUsers(file: string, users: UserRecord[], changedBy?: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const doc: UsersDoc = { users, ...(changedBy ? { changed_by: changedBy, changed_at: new Date().toISOString() } : {}) };
  await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export async function findUser(file: string, username: string): Promise<UserRecord | undefined> {
  return (await readUsers(file)).find((u) => u.username === username);
}

/**
 * Adds a user, or replaces the password and role of an existing one when `replace` is set.
 * Throws CONFLICT when the user exists and `replace` is not set.
 */
export async function addUser(
  file: string, name: string, role: Role, password: string, opts: { replace?: boolean; changedBy?: string } = {},
): Promise<UserRecord> {
  validateUsername(name);
  if (!isRole(role)) throw invalidArgument('role', 'one of admin, viewer, agent');
  validatePassword(password);
  const users = await readUsers(file);
  const existing = users.findIndex((u) => u.username === name);
  if (existing >= 0 && !opts.replace) throw new AppError('CONFLICT', `user ${name} already exists`, { field: 'username' });
  const record: UserRecord = {
    username: name,
    role,
    password_hash: await hashPassword(password),
    created_at: existing >= 0 ? users[existing]!.created_at : new Date().toISOString(),
  };
  if (existing >= 0) users[existing] = record;
  else users.push(record);
  await writeUsers(file, users, opts.changedBy);
  return record;
}

export async function removeUser(file: string, name: string, changedBy?: string): Promise<boolean> {
  const users = await readUsers(file);
  const left = users.filter((u) => u.username !== name);
  if (left.length === users.length) return false;
  await writeUsers(file, left, changedBy);
  return true;
}
