// Ports of the control area: silences, acknowledgements, autoheal bookkeeping and the audit
// trail. One store holds them all: SQLite under DATA_DIR for a single server, Redis when
// several replicas share REDIS_URL (so every replica sees the same silences and history).
import type {
  Acknowledgement, AgentCommand, AuditEvent, AutohealAttempt, Silence,
} from '../domain/control.js';

export interface ContainerKey { host: string; containerId: string }

export interface AuditQuery {
  fromMs?: number;
  toMs?: number;
  /** Prefix of the action, e.g. "autoheal." or "silence.create". */
  action?: string;
  actor?: string;
  limit: number;
}

export interface ControlStore {
  /** Insert or replace by id. */
  putSilence(s: Silence): Promise<void>;
  getSilence(id: string): Promise<Silence | null>;
  /** Every silence whose endsAt is after sinceMs (so recently expired ones still list), newest first. */
  listSilences(sinceMs: number): Promise<Silence[]>;

  /** Records the acknowledgement unless the alert already has one; returns the one in force. */
  acknowledge(ack: Acknowledgement): Promise<Acknowledgement>;
  getAcks(alertIds: readonly string[]): Promise<Map<string, Acknowledgement>>;

  /** Appended only: there is no update or delete. */
  appendAudit(e: AuditEvent): Promise<void>;
  /** Newest first. */
  listAudit(q: AuditQuery): Promise<AuditEvent[]>;

  /** Autoheal history of one container, oldest first; attempts older than a day may be dropped. */
  autohealAttempts(c: ContainerKey): Promise<AutohealAttempt[]>;
  /** Insert, or replace the attempt with the same commandId (its outcome arrives later). */
  putAutohealAttempt(c: ContainerKey, a: AutohealAttempt): Promise<void>;
  /** Start times of the attempts on a host since sinceMs. */
  hostAutohealTimes(host: string, sinceMs: number): Promise<number[]>;
  /** The give-up marker of a container (null: not given up). */
  getGaveUp(c: ContainerKey): Promise<number | null>;
  setGaveUp(c: ContainerKey, atMs: number | null): Promise<void>;

  /** Small named values (e.g. the last users-file snapshot the audit compared against). */
  getValue(key: string): Promise<string | null>;
  setValue(key: string, value: string): Promise<void>;

  close(): Promise<void>;
}

/** Sends a command to the agent that owns a container, wherever (which replica) it is connected. */
export interface AgentCommander {
  /** Resolves false when no connected agent with this id can take commands. */
  send(agentId: string, cmd: AgentCommand): Promise<boolean>;
}
