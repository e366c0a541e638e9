// Runs the real `dockwatch` CLI (the built dist/cli.js, as users run it) as a child process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
export { freePort } from './wait.js';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

/** The docker CLI against the test engine: resolves with its trimmed stdout. */
export const dockerCli = (dockerHost: string) => (...args: string[]): Promise<string> => new Promise((resolve, reject) => {
  execFile('docker', args, { env: { ...process.env, DOCKER_HOST: dockerHost } }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
});

export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function runCli(args: string[], env: Record<string, string>): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => { out += d.toString(); for (const l of listeners) l(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(out)) { cleanup(); resolve(); }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; output:\n${out.slice(-3000)}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        exited.then(() => { if (!pattern.test(out)) { cleanup(); reject(new Error(`process exited before ${pattern}; output:\n${out.slice(-3000)}`)); } });
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
