// Engine API JSON -> our shapes. Pure, tested against real Engine JSON in test/fixtures/docker.
import type { ContainerInfo } from '../../application/ports.js';
import type { ContainerEvent } from '../../domain/types.js';

/** The fields of GET /containers/json items we read. */
export interface EngineListItem {
  Id: string;
  Names?: string[];
  Image?: string;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
}

/** The fields of GET /containers/{id}/json we read. */
export interface EngineInspect {
  Id: string;
  Name?: string;
  RestartCount?: number;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  State?: {
    Status?: string;
    Pid?: number;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    Health?: { Status?: string } | null;
  };
  HostConfig?: { CgroupParent?: string };
}

export interface EngineEventMessage {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** The container actions we pass on; exec_* and others are noise for a monitor. */
export const WATCHED_ACTIONS = [
  'create', 'start', 'restart', 'stop', 'kill', 'die', 'oom', 'destroy', 'pause', 'unpause', 'health_status',
] as const;

/**
 * Podman 4.x (Debian bookworm's 4.3) calls a container's exit "died" in its own log and matches the
 * compat API's event filter against that name, though the events it sends say "die": a filter on
 * "die" alone never sees an exit there (seen in the cgroup v2 VM; Podman 5 maps the filter itself).
 * The stream asks for these names too; an event carrying one maps to ours.
 */
export const ACTION_ALIASES: Readonly<Record<string, (typeof WATCHED_ACTIONS)[number]>> = { died: 'die' };

/** "Up 3 minutes (healthy)" -> healthy; list items carry health only in this text. */
export function healthFromStatus(status: string | undefined): string {
  if (!status) return 'none';
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return 'none';
}

/** RFC 3339 from the Engine -> ms; the zero time ("0001-01-01...") and junk -> 0. */
export function engineTimeMs(t: string | undefined): number {
  if (!t) return 0;
  const ms = Date.parse(t);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function stripSlash(name: string | undefined): string {
  return name ? name.replace(/^\//, '') : '';
}

/**
 * A list item plus (when available) its inspect result. The list alone lacks pid, restart
 * count, exit code, OOM flag, start time and cgroup parent.
 */
export function toContainerInfo(item: EngineListItem, inspect?: EngineInspect): ContainerInfo {
  const st = inspect?.State;
  const state = st?.Status ?? item.State ?? 'unknown';
  return {
    id: item.Id,
    name: stripSlash(item.Names?.[0] ?? inspect?.Name),
    image: item.Image ?? inspect?.Config?.Image ?? '',
    labels: item.Labels ?? inspect?.Config?.Labels ?? {},
    state,
    health: st?.Health?.Status ?? healthFromStatus(item.Status),
    restartCount: inspect?.RestartCount ?? 0,
    exitCode: st?.ExitCode ?? exitCodeFromStatus(item.Status),
    oomKilled: st?.OOMKilled ?? false,
    startedAtMs: engineTimeMs(st?.StartedAt),
    pid: state === 'running' || state === 'paused' ? (st?.Pid ?? 0) : 0,
    cgroupParent: inspect?.HostConfig?.CgroupParent ?? '',
  };
}

/** "Exited (3) 2 seconds ago" -> 3. */
export function exitCodeFromStatus(status: string | undefined): number {
  const m = status ? /^Exited \((-?\d+)\)/.exec(status) : null;
  return m ? Number(m[1]) : 0;
}

/** What inspect needs refreshing on: the list's state and health text, not its "Up 3 s" age. */
export function inspectCacheKey(item: EngineListItem): string {
  return `${item.State ?? ''}|${healthFromStatus(item.Status)}`;
}

/** An Engine event -> ContainerEvent, or null for non-container types and unwatched actions. */
export function toContainerEvent(m: EngineEventMessage): ContainerEvent | null {
  if (m.Type !== undefined && m.Type !== 'container') return null;
  const full = m.Action ?? m.status ?? '';
  // "health_status: healthy" carries its value after the colon.
  const colon = full.indexOf(':');
  const named = colon >= 0 ? full.slice(0, colon) : full;
  const action = ACTION_ALIASES[named] ?? named;
  if (!(WATCHED_ACTIONS as readonly string[]).includes(action)) return null;
  const attributes = { ...(m.Actor?.Attributes ?? {}) };
  // Podman's "died" carries the code as containerExitCode.
  const code = attributes.exitCode ?? attributes.containerExitCode;
  const exit = code !== undefined ? Number(code) : 0;
  const timestampMs = m.timeNano ? Math.floor(m.timeNano / 1e6) : (m.time ?? 0) * 1000;
  return {
    containerId: m.Actor?.ID ?? m.id ?? '',
    containerName: attributes.name ?? '',
    action,
    timestampMs,
    exitCode: Number.isFinite(exit) ? exit : 0,
    health: action === 'health_status' && colon >= 0 ? full.slice(colon + 1).trim() : '',
    attributes,
  };
}

/**
 * A non-TTY log response is multiplexed: frames of an 8-byte header (stream type, 3 zero bytes,
 * big-endian length) then payload. A TTY container's log is raw text: detected by the header.
 */
export function demuxLogs(buf: Uint8Array): string {
  const looksFramed = buf.length >= 8 && buf[0]! <= 2 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
  if (!looksFramed) return new TextDecoder().decode(buf);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = view.getUint32(off + 4);
    parts.push(buf.subarray(off + 8, Math.min(buf.length, off + 8 + len)));
    off += 8 + len;
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return new TextDecoder().decode(out);
}
