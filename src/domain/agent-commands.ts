// How an agent reports what came of a command: a ContainerEvent with action
// AUTOHEAL_EVENT_ACTION in its next batch, so the outcome travels (and is resent) like any
// other event and needs no message of its own. Attributes (all strings, as event attributes are):
//   command_id, outcome (restarted | failed | refused), error (only when there is one),
//   duration_ms, kind.
import { AUTOHEAL_EVENT_ACTION, type AgentCommand, type AgentCommandResult } from './control.js';
import type { ContainerEvent } from './types.js';

const OUTCOMES: ReadonlySet<string> = new Set<AgentCommandResult['outcome']>(['restarted', 'failed', 'refused']);

/** The event that carries a command's result. `kind` is the command's (only restart so far). */
export function commandResultEvent(result: AgentCommandResult, containerName: string, atMs: number,
  kind: AgentCommand['kind'] = 'restart'): ContainerEvent {
  const attributes: Record<string, string> = {
    command_id: result.commandId,
    outcome: result.outcome,
    duration_ms: String(Math.max(0, Math.round(result.durationMs))),
    kind,
  };
  if (result.error !== undefined && result.error !== '') attributes.error = result.error;
  return {
    containerId: result.containerId,
    containerName,
    action: AUTOHEAL_EVENT_ACTION,
    timestampMs: atMs,
    exitCode: 0,
    health: '',
    attributes,
  };
}

/**
 * The result an event carries; null for any other event, and for one without a command id or
 * with an outcome other than restarted, failed or refused. A missing or garbled duration reads as 0.
 */
export function commandResultFromEvent(ev: ContainerEvent): AgentCommandResult | null {
  if (ev.action !== AUTOHEAL_EVENT_ACTION) return null;
  const a = ev.attributes ?? {};
  const commandId = a.command_id ?? '';
  const outcome = a.outcome ?? '';
  if (commandId === '' || !OUTCOMES.has(outcome) || ev.containerId === '') return null;
  const d = Number(a.duration_ms);
  const result: AgentCommandResult = {
    commandId,
    containerId: ev.containerId,
    outcome: outcome as AgentCommandResult['outcome'],
    durationMs: a.duration_ms !== undefined && a.duration_ms !== '' && Number.isFinite(d) && d >= 0 ? d : 0,
  };
  if (a.error !== undefined && a.error !== '') result.error = a.error;
  return result;
}
