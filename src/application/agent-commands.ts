// Agent side of the commands the server sends down the StreamMetrics response stream
// (autoheal restarts): runs each through the container runtime and reports the outcome as a
// ContainerEvent (src/domain/agent-commands.ts) that goes out with the next batch.
//
// Rules, all local to the agent (the server's policy decides whether to ask at all):
//  - AUTOHEAL=off, or a runtime that cannot restart (ECS): refused, nothing is touched;
//  - a command id seen before is ignored (the server, or a reconnect, may repeat one);
//  - one command per container at a time: another one for a busy container is refused;
//  - a restart that takes longer than timeoutSec + 30 s is reported failed (the Engine's own
//    call may still finish later; the container stays busy until it does);
//  - a failed restart is reported with the Engine's message (e.g. "no such container: ...").
import type { AgentCommand, AgentCommandResult } from '../domain/control.js';
import type { ContainerEvent } from '../domain/types.js';
import { commandResultEvent } from '../domain/agent-commands.js';
import type { Logger } from './ports.js';

export interface CommandHandlerDeps {
  /** The runtime's restartContainer; absent when it has none (ECS). */
  restart?: (id: string, timeoutSec: number) => Promise<void>;
  /** AUTOHEAL=on. */
  enabled: boolean;
  log: Logger;
  /** Hands the result event to the agent loop (it goes out with the next batch). */
  report: (ev: ContainerEvent) => void;
  clock: () => number;
  /** How much longer than timeoutSec a restart may take before it counts as failed (default 30 s). */
  graceMs?: number;
}

export const COMMAND_GRACE_MS = 30_000;
export const AUTOHEAL_OFF_ERROR = 'AUTOHEAL=off on this agent';
/** Command ids remembered for duplicate detection. */
const SEEN_LIMIT = 1000;

export function createCommandHandler(deps: CommandHandlerDeps): (cmd: AgentCommand) => Promise<void> {
  const log = deps.log;
  const graceMs = deps.graceMs ?? COMMAND_GRACE_MS;
  const seen = new Set<string>();
  /** containerId -> id of the command running on it. */
  const busy = new Map<string, string>();

  const remember = (id: string): void => {
    seen.add(id);
    if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value!);
  };

  return async (cmd) => {
    if (seen.has(cmd.id)) {
      log.debug({ commandId: cmd.id }, 'command seen before; ignored');
      return;
    }
    remember(cmd.id);
    const startedAt = deps.clock();
    const ctx = { commandId: cmd.id, kind: cmd.kind, containerId: cmd.containerId, container: cmd.containerName };

    const finish = (outcome: AgentCommandResult['outcome'], error?: string): void => {
      const result: AgentCommandResult = {
        commandId: cmd.id, containerId: cmd.containerId, outcome, durationMs: Math.max(0, deps.clock() - startedAt),
      };
      if (error !== undefined) result.error = error;
      if (outcome === 'restarted') log.info({ ...ctx, durationMs: result.durationMs }, 'container restarted on the server\'s command');
      else log.warn({ ...ctx, outcome, error }, `command ${outcome}`);
      deps.report(commandResultEvent(result, cmd.containerName, deps.clock(), cmd.kind));
    };

    if (!deps.enabled) return finish('refused', AUTOHEAL_OFF_ERROR);
    if ((cmd.kind as string) !== 'restart') return finish('refused', `unknown command kind "${cmd.kind}"`);
    const restart = deps.restart;
    if (!restart) return finish('refused', 'this agent\'s container runtime cannot restart containers');
    const running = busy.get(cmd.containerId);
    if (running !== undefined) return finish('refused', `command ${running} is still running on this container`);

    busy.set(cmd.containerId, cmd.id);
    log.info({ ...ctx, timeoutSec: cmd.timeoutSec, reason: cmd.reason }, 'restarting container on the server\'s command');
    const op = Promise.resolve().then(() => restart(cmd.containerId, cmd.timeoutSec));
    // The container stays busy until the Engine answers, even after a timeout was reported.
    op.then(() => undefined, () => undefined).then(() => {
      if (busy.get(cmd.containerId) === cmd.id) busy.delete(cmd.containerId);
    });
    const limitMs = Math.max(0, cmd.timeoutSec) * 1000 + graceMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), limitMs); });
    try {
      const r = await Promise.race([op.then(() => 'done' as const), timedOut]);
      if (r === 'timeout') finish('failed', `restart did not finish within ${Math.round(limitMs / 1000)} s`);
      else finish('restarted');
    } catch (err) {
      finish('failed', err instanceof Error ? err.message : String(err));
    } finally {
      clearTimeout(timer);
    }
  };
}

type WatchEvents = (onEvent: (e: ContainerEvent) => void) => () => void;

/**
 * Wraps the agent loop's watchEvents hook so that other parts of the agent can add events of
 * their own (command results): the loop treats them like container events, so a batch that
 * carries them goes out after the loop's short debounce instead of at the next interval.
 * Events injected before the loop subscribes are kept (up to 100) and handed over then.
 */
export function withInjectedEvents(watch?: WatchEvents): { watchEvents: WatchEvents; inject(ev: ContainerEvent): void } {
  let sink: ((e: ContainerEvent) => void) | null = null;
  const early: ContainerEvent[] = [];
  return {
    watchEvents(onEvent) {
      sink = onEvent;
      for (const e of early.splice(0)) onEvent(e);
      const stop = watch?.(onEvent);
      return () => {
        if (sink === onEvent) sink = null;
        stop?.();
      };
    },
    inject(ev) {
      if (sink) sink(ev);
      else if (early.length < 100) early.push(ev);
    },
  };
}
