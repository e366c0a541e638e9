// Autoheal policy, pure: who may be restarted (opt-in label or rule), and whether a restart
// may happen now (backoff, a cap per window, a cap per host per minute, and a give-up that
// sticks so the cap cannot turn into a slow endless loop of its own).
import type { AutohealAttempt, AutohealTrigger } from './control.js';

export const LABEL_AUTOHEAL = 'dockwatch.autoheal';

export const AUTOHEAL_TRIGGERS: readonly AutohealTrigger[] = ['unhealthy', 'exited', 'oom'];

const ON = new Set(['true', 'yes', 'on', '1']);
const OFF = new Set(['false', 'no', 'off', '0', '']);

/**
 * `true` means unhealthy only (what docker-autoheal does); `all` every trigger; otherwise a
 * list of unhealthy, exited, oom separated by `,` or `|`. Throws a message naming the bad word.
 */
export function parseAutohealValue(raw: string): Set<AutohealTrigger> {
  const v = raw.trim().toLowerCase();
  if (ON.has(v)) return new Set(['unhealthy']);
  if (OFF.has(v)) return new Set();
  if (v === 'all') return new Set(AUTOHEAL_TRIGGERS);
  const out = new Set<AutohealTrigger>();
  for (const part of v.split(/[,|]/)) {
    const p = part.trim() as AutohealTrigger;
    if (!AUTOHEAL_TRIGGERS.includes(p)) {
      throw new Error(`unknown autoheal value "${part.trim()}" (use true, false, all, or a list of ${AUTOHEAL_TRIGGERS.join(', ')})`);
    }
    out.add(p);
  }
  return out;
}

/** The alert rule kind each trigger answers to. */
export const TRIGGER_OF_RULE_KIND: Readonly<Record<string, AutohealTrigger>> = {
  unhealthy: 'unhealthy',
  stopped: 'exited',
  oom: 'oom',
};

export interface AutohealLimits {
  /** Restarts of one container within windowMs before autoheal gives up (default 3 per hour). */
  maxRestarts: number;
  windowMs: number;
  /** Wait after the first restart; doubles after each further one, up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Restarts on one host within any minute. */
  maxPerHostPerMinute: number;
  /** After giving up, a container must stay well this long before autoheal acts on it again. */
  stableMs: number;
}

export const DEFAULT_AUTOHEAL_LIMITS: AutohealLimits = {
  maxRestarts: 3,
  windowMs: 3_600_000,
  backoffInitialMs: 30_000,
  backoffMaxMs: 600_000,
  maxPerHostPerMinute: 5,
  stableMs: 600_000,
};

export interface AutohealHistory {
  /** This container's attempts, oldest first. */
  attempts: readonly AutohealAttempt[];
  /** Start times of every attempt on the container's host in the last minute. */
  hostAttemptsMs: readonly number[];
  /** Set while autoheal has given up on this container. */
  gaveUpAtMs?: number;
  /** Since when the container has been well without a break (undefined: it is failing now). */
  wellSinceMs?: number;
}

export type AutohealDecision =
  | { action: 'restart'; attempt: number }
  | { action: 'wait'; untilMs: number; reason: string }
  | { action: 'give_up'; reason: string }
  | { action: 'stay_given_up'; reason: string };

export function decideAutoheal(h: AutohealHistory, nowMs: number, limits: AutohealLimits): AutohealDecision {
  if (h.gaveUpAtMs !== undefined) {
    return { action: 'stay_given_up', reason: `autoheal gave up at ${new Date(h.gaveUpAtMs).toISOString()}; it resumes once the container stays well for ${Math.round(limits.stableMs / 1000)}s` };
  }
  const recent = h.attempts.filter((a) => a.atMs > nowMs - limits.windowMs && a.outcome !== 'refused');
  if (recent.length >= limits.maxRestarts) {
    return { action: 'give_up', reason: `restarted ${recent.length} times within ${Math.round(limits.windowMs / 60_000)} min and still failing` };
  }
  const last = recent[recent.length - 1];
  if (last) {
    const backoff = Math.min(limits.backoffMaxMs, limits.backoffInitialMs * 2 ** (recent.length - 1));
    if (nowMs < last.atMs + backoff) {
      return { action: 'wait', untilMs: last.atMs + backoff, reason: `backoff ${Math.round(backoff / 1000)}s after restart ${recent.length}` };
    }
  }
  const hostRecent = h.hostAttemptsMs.filter((t) => t > nowMs - 60_000).sort((a, b) => a - b);
  if (hostRecent.length >= limits.maxPerHostPerMinute) {
    return { action: 'wait', untilMs: hostRecent[0]! + 60_000, reason: `host limit of ${limits.maxPerHostPerMinute} restarts per minute reached` };
  }
  return { action: 'restart', attempt: recent.length + 1 };
}

/** A given-up container may be healed again once it has been well for stableMs. */
export const givenUpCleared = (h: Pick<AutohealHistory, 'gaveUpAtMs' | 'wellSinceMs'>, nowMs: number, limits: AutohealLimits): boolean =>
  h.gaveUpAtMs !== undefined && h.wellSinceMs !== undefined && nowMs - h.wellSinceMs >= limits.stableMs;
