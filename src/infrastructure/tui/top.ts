// `dockwatch top`: subscribes through the given `subscribe` (the gRPC SubscribeToMetrics
// client, wired by the CLI), folds batches into the model and shows it with Ink. Exit codes:
// 0 quit, 2 bad usage / no terminal, 3 server unreachable, 4 token refused, 1 anything else.
import { createElement } from 'react';
import { render } from 'ink';
import ansiEscapes from 'ansi-escapes';
import type { MetricBatch } from '../../domain/types.js';
import type { SubscriptionFilterInput } from '../../application/subscription-filter.js';
import { applyBatch, createModel } from './model.js';
import { TopApp, createTopStore } from './app.js';

/**
 * Starts a subscription and returns its cancel function. `onError` ends the subscription;
 * errors carry an AppError code (UNAVAILABLE, UNAUTHENTICATED, ...) or a numeric gRPC status
 * `code`. `onConnected`, when the client can tell (response headers), says the server answered.
 */
export type TopSubscribe = (
  filter: SubscriptionFilterInput,
  onBatch: (batch: MetricBatch) => void,
  onError: (err: unknown) => void,
  onConnected?: () => void,
) => () => void;

export interface RunTopOptions {
  /** host:port, shown in messages. */
  server: string;
  /** Only to say "no token given" when the server refuses; subscribe already carries it. */
  token?: string | undefined;
  subscribe: TopSubscribe;
  filter?: SubscriptionFilterInput;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
  /** Backoff bounds for resubscribing after a lost connection (default 1000..10000 ms). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

export const TOP_EXIT = { ok: 0, error: 1, usage: 2, unreachable: 3, refused: 4 } as const;

export type ErrorKind = 'unreachable' | 'refused' | 'invalid' | 'other';

// gRPC status numbers, so errors straight from @grpc/grpc-js are understood too.
const GRPC_CODE_NAMES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED',
};

/** Sorts a subscription error into what `top` tells the user. */
export function classifyError(err: unknown): { kind: ErrorKind; code: string; detail: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e.code === 'number' ? GRPC_CODE_NAMES[e.code] ?? `code ${e.code}` : typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const raw = typeof e.details === 'string' && e.details !== '' ? e.details : typeof e.message === 'string' ? e.message : String(err);
  // grpc-js prefixes messages with "14 UNAVAILABLE: "; the code is said separately.
  const detail = raw.replace(/^\d+ [A-Z_]+: /, '');
  const kind: ErrorKind = code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' ? 'unreachable'
    : code === 'UNAUTHENTICATED' || code === 'PERMISSION_DENIED' ? 'refused'
      : code === 'INVALID_ARGUMENT' ? 'invalid' : 'other';
  return { kind, code, detail };
}

export function fatalMessage(server: string, token: string | undefined, err: unknown): { message: string; exitCode: number } {
  const { kind, code, detail } = classifyError(err);
  switch (kind) {
    case 'unreachable':
      return { message: `cannot reach server at ${server}: ${detail}`, exitCode: TOP_EXIT.unreachable };
    case 'refused':
      return {
        message: token
          ? `server at ${server} refused the token (${code}): ${detail}`
          : `server at ${server} refused the request (${code}): no token given; pass --token or set DOCKWATCH_TOKEN`,
        exitCode: TOP_EXIT.refused,
      };
    case 'invalid':
      return { message: `server at ${server} refused the filter: ${detail}`, exitCode: TOP_EXIT.usage };
    default:
      return { message: `subscription to ${server} failed (${code}): ${detail}`, exitCode: TOP_EXIT.error };
  }
}

export async function runTop(opts: RunTopOptions): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const stderr = opts.stderr ?? process.stderr;
  if (!stdin.isTTY || !stdout.isTTY) {
    stderr.write('dockwatch top needs an interactive terminal (stdin and stdout must be a TTY)\n');
    return TOP_EXIT.usage;
  }
  const filter: SubscriptionFilterInput = { ...opts.filter, includeHost: true };
  const minMs = opts.reconnectMinMs ?? 1000;
  const maxMs = opts.reconnectMaxMs ?? 10_000;

  const store = createTopStore(createModel());
  let contacted = false;
  let attempt = 0;
  let cancel: () => void = () => {};
  let retryTimer: NodeJS.Timeout | undefined;
  let finished = false;
  let fatal: { message: string; exitCode: number } | null = null;

  // The alternate screen, as top and ctop use: the shell's screen comes back untouched on quit,
  // and a resize never reflows old frames into the view.
  let altScreen = true;
  const leaveAltScreen = () => {
    if (!altScreen) return;
    altScreen = false;
    stdout.write(ansiEscapes.exitAlternativeScreen);
  };
  process.once('exit', leaveAltScreen);
  stdout.write(ansiEscapes.enterAlternativeScreen + ansiEscapes.clearViewport);
  // Registered before Ink's own resize handler: a terminal that reflowed the old frame is wiped
  // first, then the screen (always exactly as tall as the terminal) is drawn again in full.
  const wipe = () => { stdout.write(ansiEscapes.clearViewport); };
  stdout.on('resize', wipe);
  const instance = render(createElement(TopApp, { store, server: opts.server }), {
    stdout, stdin, stderr, exitOnCtrlC: true, patchConsole: false,
  });

  const stopWith = (f: { message: string; exitCode: number }) => {
    if (finished) return;
    fatal = f;
    instance.clear();
    instance.unmount();
  };

  const start = () => {
    let ended = false;
    const markLive = () => {
      contacted = true;
      attempt = 0;
      if (store.conn.kind !== 'live') { store.conn = { kind: 'live' }; store.changed(); }
    };
    cancel = opts.subscribe(
      filter,
      (batch) => {
        if (ended || finished) return;
        markLive();
        applyBatch(store.model, batch);
        store.changed();
      },
      (err) => {
        if (ended || finished) return;
        ended = true;
        const f = fatalMessage(opts.server, opts.token, err);
        // A server that answered before and then went away is retried; bad tokens and bad
        // filters never get better, and a server never reached is reported at once.
        if (!contacted || f.exitCode !== TOP_EXIT.unreachable) { stopWith(f); return; }
        store.conn = { kind: 'reconnecting', reason: classifyError(err).detail };
        store.changed();
        const delay = Math.min(maxMs, minMs * 2 ** attempt++);
        retryTimer = setTimeout(start, delay);
      },
      () => { if (!ended && !finished) markLive(); },
    );
  };
  start();

  try {
    await instance.waitUntilExit();
  } catch (err) {
    fatal ??= { message: `dockwatch top failed: ${String(err)}`, exitCode: TOP_EXIT.error };
  }
  finished = true;
  if (retryTimer) clearTimeout(retryTimer);
  cancel();
  stdout.off('resize', wipe);
  leaveAltScreen();
  process.off('exit', leaveAltScreen);
  const f = fatal as { message: string; exitCode: number } | null;
  if (f) {
    stderr.write(`${f.message}\n`);
    return f.exitCode;
  }
  return TOP_EXIT.ok;
}
