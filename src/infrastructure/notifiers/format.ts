// Channel-neutral wording of notifications, shared by the channel formatters.
import type { ActionNotice, AlertEvent, Digest, Notification } from '../../application/alert-ports.js';

export interface FormatOptions {
  /** PUBLIC_URL without trailing slash; '' = no links. */
  publicUrl: string;
}

/** Link to the container's chart, or null for alerts without a real container. */
export function containerLink(a: AlertEvent, o: FormatOptions): string | null {
  if (!o.publicUrl || !a.containerId || /^(watch|disk):/.test(a.containerId)) return null;
  return `${o.publicUrl.replace(/\/+$/, '')}/dashboard.html?container=${encodeURIComponent(a.containerId)}`;
}

export const containerLabel = (a: AlertEvent): string => a.containerName || (a.containerId.startsWith('disk:') ? a.containerId : '(host)');

export const fmtNum = (n: number): string => (Number.isInteger(n) ? String(n) : (Math.round(n * 10) / 10).toFixed(1));

export function alertTitle(a: AlertEvent): string {
  const tag = a.state === 'firing' ? `[${a.severity.toUpperCase()}] FIRING` : 'RESOLVED';
  return `${tag} ${a.ruleId}: ${containerLabel(a)} on ${a.host}`;
}

export function alertFields(a: AlertEvent): [string, string][] {
  const f: [string, string][] = [
    ['Severity', a.severity], ['Host', a.host], ['Container', containerLabel(a)],
    ['Value', fmtNum(a.value)], ['Threshold', fmtNum(a.threshold)],
  ];
  if (a.context?.exitCode !== undefined) f.push(['Exit code', String(a.context.exitCode)]);
  return f;
}

export function digestTitle(d: Digest): string {
  return `Dockwatch digest ${new Date(d.fromMs).toISOString()} - ${new Date(d.toMs).toISOString()}`;
}

export function digestLines(d: Digest): string[] {
  const states = Object.entries(d.containersByState).sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s} ${n}`).join(', ') || 'none';
  const top = (xs: Digest['topCpu']): string => xs.map((x) => `${x.containerName}@${x.host} ${fmtNum(x.value)}%`).join(', ') || 'none';
  return [
    `Hosts: ${d.hosts.length} (${d.hosts.map((h) => `${h.hostname}: ${h.containers} containers`).join(', ') || 'none'})`,
    `Containers by state: ${states}`,
    `Top CPU: ${top(d.topCpu)}`,
    `Top memory: ${top(d.topMemory)}`,
    `Alerts fired: ${d.alertsFired}, resolved: ${d.alertsResolved}`,
  ];
}

/** A one-line text for any notification (fallback text, subjects, logs). */
export function summary(n: Notification): string {
  switch (n.kind) {
    case 'alert': return `${alertTitle(n.alert)} - ${n.alert.message}`;
    case 'digest': return digestTitle(n.digest);
    case 'lifecycle': return n.message;
    case 'action': return n.action.message;
  }
}

/** How an action turned out, for titles and colours: ok, requested (in progress), failed, refused. */
export type ActionTone = 'ok' | 'info' | 'failed' | 'refused';

export function actionTone(a: ActionNotice): ActionTone {
  switch (a.outcome) {
    case 'ok': case 'restarted': return 'ok';
    case 'failed': return 'failed';
    case 'refused': return 'refused';
    default: return 'info';
  }
}

/** e.g. "[FAILED] autoheal.restart: web on node-1". */
export function actionTitle(a: ActionNotice): string {
  return `[${a.outcome.toUpperCase()}] ${a.action}: ${a.containerName || a.containerId || '(host)'} on ${a.host}`;
}

export function actionFields(a: ActionNotice): [string, string][] {
  return [['Action', a.action], ['Outcome', a.outcome], ['Host', a.host], ['Container', a.containerName || a.containerId || '(host)']];
}

export const truncate = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`);
