// What operators do to alerts and containers: silences, acknowledgements, autoheal attempts
// and the audit trail that records all of it. Plain data; matching and policy live in
// silences.ts and autoheal.ts.

/**
 * One matcher of a silence, as in Alertmanager: `=` / `!=` compare with a glob (exact when the
 * value has no `*`, `?` or `[`), `=~` / `!~` with a regular expression anchored at both ends.
 * Names: `alertname` (the rule id), `severity`, `host`, `container` (name), `container_id`,
 * and `label.<key>` for the container's Docker labels. An absent label reads as "".
 */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAtMs: number;
  endsAtMs: number;
  comment: string;
  createdBy: string;
  createdAtMs: number;
  /** Set when someone expired it before endsAt (endsAtMs is then moved to that time). */
  expiredBy?: string;
  updatedAtMs: number;
}

export type SilenceStatus = 'pending' | 'active' | 'expired';

export interface Acknowledgement {
  /** The firing alert's event id. */
  alertId: string;
  by: string;
  atMs: number;
  comment: string;
}

export type AuditOutcome = 'ok' | 'failed' | 'refused';

export interface AuditEvent {
  id: string;
  atMs: number;
  /** A user name, `autoheal`, `cli:<user>` or `system`. */
  actor: string;
  /** e.g. silence.create, silence.expire, alert.ack, rules.replace, user.add, autoheal.restart, autoheal.gave_up */
  action: string;
  /** What it acted on: a silence id, an alert id, `<host>/<container>`, a user name. */
  target: string;
  outcome: AuditOutcome;
  /** Free-form detail (reason, error, the rule set size...). Never secrets. */
  details: Record<string, unknown>;
}

/** One restart autoheal asked for, and what came of it. */
export interface AutohealAttempt {
  commandId: string;
  atMs: number;
  /** unhealthy | exited | oom: the condition that triggered it. */
  trigger: AutohealTrigger;
  /** pending until the agent reports; then restarted, failed or refused. */
  outcome: 'pending' | 'restarted' | 'failed' | 'refused';
  error?: string;
}

export type AutohealTrigger = 'unhealthy' | 'exited' | 'oom';

/** A command the server sends an agent down its StreamMetrics response stream. */
export interface AgentCommand {
  id: string;
  kind: 'restart';
  containerId: string;
  containerName: string;
  /** Seconds Docker waits for a graceful stop before it kills (restart ?t=). */
  timeoutSec: number;
  reason: string;
}

/** The agent's answer, carried back as a ContainerEvent with action AUTOHEAL_EVENT_ACTION. */
export interface AgentCommandResult {
  commandId: string;
  containerId: string;
  outcome: 'restarted' | 'failed' | 'refused';
  error?: string;
  durationMs: number;
}

export const AUTOHEAL_EVENT_ACTION = 'dockwatch_command';
