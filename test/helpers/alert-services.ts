// Real services the alerting integration tests start for themselves: a private
// redis-server, an aiosmtpd SMTP server and local HTTP stand-ins for Slack/Discord/webhooks.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from './mail-parse.js';
import { freePort } from './wait.js';

export { freePort };

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const portOpen = (port: number): Promise<boolean> => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});

export interface OwnRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  kill(): Promise<void>;
}

/** A private redis-server (not the shared one): tests kill and restart it on the same port. */
export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dw-alerts-redis-'));
  let proc: ChildProcess | null = null;
  const r: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' });
      await waitFor('redis-server', () => portOpen(port), 15_000);
    },
    async kill() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL');
      await gone;
      proc = null;
    },
  };
  await r.start();
  return r;
}

export interface Mail { from: string; to: string[]; subject: string; text: string; html: string; contentType: string }

export interface SmtpServer { port: number; mails(): Mail[]; stop(): Promise<void> }

export async function startSmtp(): Promise<SmtpServer> {
  const port = await freePort();
  const out = join(mkdtempSync(join(tmpdir(), 'dw-alerts-smtp-')), 'mail.jsonl');
  const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'alerts');
  const python = process.env['TEST_PYTHON'] || '/usr/bin/python3';
  const proc = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'smtp_handler.JsonLinesHandler', out],
    { cwd: fixtures, env: { ...process.env, PYTHONPATH: fixtures, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  await waitFor(`aiosmtpd (${stderr})`, () => portOpen(port), 15_000);
  return {
    port,
    mails: () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
      const m = JSON.parse(l) as { from: string; to: string[]; data: string };
      return { from: m.from, to: m.to, ...simpleParser(m.data) };
    }) : []),
    async stop() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((res) => proc.once('exit', res));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

export interface Received { path: string; body: unknown; problems: string[]; status: number }

export interface Receivers {
  url(path: string): string;
  received(path?: string): Received[];
  /** Next answers for a path, consumed in order: e.g. [{status: 429, retryAfter: '1'}, {status: 500}]. */
  script(path: string, answers: { status: number; retryAfter?: string; hang?: boolean }[]): void;
  close(): Promise<void>;
}

/** HTTP stand-ins: every POST is recorded with the problems its path's checker found. */
export async function startReceivers(checkers: Record<string, (body: unknown) => string[]>): Promise<Receivers> {
  const got: Received[] = [];
  const scripts = new Map<string, { status: number; retryAfter?: string; hang?: boolean }[]>();
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      let body: unknown = null;
      const problems: string[] = [];
      if (req.method !== 'POST') problems.push(`method ${req.method}`);
      if (!String(req.headers['content-type']).startsWith('application/json')) problems.push('content-type is not JSON');
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { problems.push('body is not JSON'); }
      problems.push(...(checkers[path]?.(body) ?? []));
      const next = scripts.get(path)?.shift() ?? { status: problems.length ? 400 : 200 };
      got.push({ path, body, problems, status: next.status });
      if (next.hang) { hanging.push(res); return; }
      if (next.retryAfter !== undefined) res.setHeader('retry-after', next.retryAfter);
      res.statusCode = next.status;
      res.end(next.status < 300 ? 'ok' : problems.join('; ') || 'error');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    received: (p) => got.filter((g) => p === undefined || g.path === p),
    script: (p, answers) => { scripts.set(p, [...answers]); },
    close: () => new Promise<void>((r) => { for (const h of hanging) h.destroy(); server.closeAllConnections(); server.close(() => r()); }),
  };
}
