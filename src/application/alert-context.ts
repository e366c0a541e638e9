// Agent side: gives the alerts of the server the context the on-call needs. The server has
// no Docker socket, so the agent attaches it to the events it forwards:
//   die, oom, health_status: unhealthy  ->  attributes.logTail = last 20 log lines joined by "\n"
// (die events already carry attributes.exitCode from the Engine). Wrap the runtime's
// watchEvents with this and pass the result to the agent loop.
import type { ContainerEvent } from '../domain/types.js';
import type { ContainerRuntime, Logger } from './ports.js';

export const LOG_TAIL_LINES = 20;
const MAX_TAIL_CHARS = 8192;

function wantsContext(e: ContainerEvent): boolean {
  return e.action === 'die' || e.action === 'oom' || (e.action === 'health_status' && e.health === 'unhealthy');
}

export function withAlertContext(runtime: Pick<ContainerRuntime, 'watchEvents' | 'tailLogs'>, log?: Logger, lines = LOG_TAIL_LINES):
  (onEvent: (e: ContainerEvent) => void) => () => void {
  return (onEvent) => runtime.watchEvents((e) => {
    if (!wantsContext(e) || !runtime.tailLogs) { onEvent(e); return; }
    runtime.tailLogs(e.containerId, lines).then(
      (tail) => {
        const text = tail.slice(-lines).join('\n');
        onEvent({ ...e, attributes: { ...e.attributes, logTail: text.length > MAX_TAIL_CHARS ? text.slice(-MAX_TAIL_CHARS) : text } });
      },
      (err: Error) => {
        // The container may be gone already (--rm): the event still matters without its log.
        log?.debug({ id: e.containerId, reason: err.message }, 'no log tail for event');
        onEvent(e);
      },
    );
  });
}
