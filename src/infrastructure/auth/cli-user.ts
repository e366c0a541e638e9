// `dockwatch user add <name> --role viewer|admin [--password-stdin]`, `user list`, `user remove <name>`.
// The users file is USERS_FILE, or ${DATA_DIR:-./data}/users.json, as the server reads it.
import { hostname, userInfo } from 'node:os';
import { isAppError } from '../../application/errors.js';
import { generatePassword } from './passwords.js';
import { isRole } from '../../application/auth-ports.js';
import { addUser, readUsers, removeUser } from './users-file.js';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

const USAGE = `usage:
  dockwatch user add <name> --role viewer|admin|agent [--password-stdin] [--replace]
  dockwatch user list
  dockwatch user remove <name>
Without --password-stdin a password is generated and printed once.
The file is USERS_FILE (default \${DATA_DIR:-./data}/users.json).
`;

export const usersFileFromEnv = (env: NodeJS.ProcessEnv): string =>
  env.USERS_FILE || `${env.DATA_DIR || './data'}/users.json`;

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Returns the exit code: 0 ok, 1 failed, 2 bad usage. */
export async function runUserCommand(
  argv: string[], env: NodeJS.ProcessEnv,
  io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const args = argv[0] === 'user' ? argv.slice(1) : argv;
  const [cmd, ...rest] = args;
  const file = usersFileFromEnv(env);
  try {
    if (cmd === 'add') {
      let role: string | undefined;
      let fromStdin = false;
      let replace = false;
      const positional: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i]!;
        if (a === '--role') role = rest[++i];
        else if (a.startsWith('--role=')) role = a.slice('--role='.length);
        else if (a === '--password-stdin') fromStdin = true;
        else if (a === '--replace') replace = true;
        else if (a.startsWith('-')) { io.stderr.write(`unknown option ${a}\n${USAGE}`); return 2; }
        else positional.push(a);
      }
      const name = positional[0];
      if (!name || positional.length > 1 || !role || !isRole(role)) { io.stderr.write(USAGE); return 2; }
      // Only the first line counts, so `echo pw | dockwatch user add` works.
      const password = fromStdin ? (await readAll(io.stdin)).split(/\r?\n/)[0]! : generatePassword();
      await addUser(file, name, role, password, { replace, changedBy: cliActor() });
      io.stdout.write(`user ${name} (${role}) written to ${file}\n`);
      if (!fromStdin) io.stdout.write(`password: ${password}\n(shown once; it is stored only as a scrypt hash)\n`);
      return 0;
    }
    if (cmd === 'list') {
      for (const u of await readUsers(file)) io.stdout.write(`${u.username}\t${u.role}\t${u.created_at}\n`);
      return 0;
    }
    if (cmd === 'remove' && rest.length === 1) {
      if (await removeUser(file, rest[0]!, cliActor())) { io.stdout.write(`user ${rest[0]} removed\n`); return 0; }
      io.stderr.write(`user ${rest[0]} not found in ${file}\n`);
      return 1;
    }
    io.stderr.write(USAGE);
    return 2;
  } catch (e) {
    io.stderr.write(`${isAppError(e) ? e.message : (e as Error).message}\n`);
    return isAppError(e) && e.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

/** Who ran the command, for the audit trail: the OS user and host (a CLI has no JWT). */
function cliActor(): string {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry, e.g. a bare container uid */ }
  return `cli:${user}@${hostname()}`;
}
