// Silence matching with Alertmanager's semantics: every matcher of a silence must match (AND);
// a label the alert does not have reads as ""; regular expressions are anchored. A silence is
// active from startsAt (inclusive) to endsAt (exclusive).
import { globMatch } from './alerts/glob.js';
import type { Matcher, Silence, SilenceStatus } from './control.js';

/** What a silence can see of an alert. */
export interface AlertLabels {
  alertname: string;
  severity: string;
  host: string;
  container: string;
  container_id: string;
  labels: Record<string, string>;
}

export const MATCHER_NAMES = ['alertname', 'severity', 'host', 'container', 'container_id'] as const;
export const LABEL_PREFIX = 'label.';

const regexCache = new Map<string, RegExp>();

/** Throws the RegExp error for a bad pattern; validation calls this to name the field. */
export function compileMatcherRegex(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

export function labelValue(a: AlertLabels, name: string): string {
  if (name.startsWith(LABEL_PREFIX)) return a.labels[name.slice(LABEL_PREFIX.length)] ?? '';
  return (a as unknown as Record<string, string>)[name] ?? '';
}

export function matcherMatches(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=': return globMatch(m.value, value);
    case '!=': return !globMatch(m.value, value);
    case '=~': return compileMatcherRegex(m.value).test(value);
    case '!~': return !compileMatcherRegex(m.value).test(value);
    default: return false;
  }
}

export const silenceMatches = (s: Silence, a: AlertLabels): boolean =>
  s.matchers.every((m) => matcherMatches(m, labelValue(a, m.name)));

export function silenceStatus(s: Silence, nowMs: number): SilenceStatus {
  if (nowMs >= s.endsAtMs) return 'expired';
  return nowMs < s.startsAtMs ? 'pending' : 'active';
}

/** The ids of the active silences that mute this alert now. */
export const silencedBy = (silences: readonly Silence[], a: AlertLabels, nowMs: number): string[] =>
  silences.filter((s) => silenceStatus(s, nowMs) === 'active' && silenceMatches(s, a)).map((s) => s.id);

/**
 * True when the matchers would mute every alert, which Alertmanager refuses: every matcher
 * matches the empty string (so also every alert without that label), or is a catch-all
 * (`*`, `.*`). The API asks for `force` then.
 */
export function matchesEverything(matchers: readonly Matcher[]): boolean {
  if (matchers.length === 0) return true;
  return matchers.every((m) => matcherMatches(m, '') || isCatchAll(m));
}

const isCatchAll = (m: Matcher): boolean =>
  (m.op === '=' && /^\*+$/.test(m.value)) || (m.op === '=~' && /^(\.\*|\.\+)$/.test(m.value));
