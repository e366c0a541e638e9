// The history page's annotations, worked out from container lifecycle events (the stored ones the
// server answers for the range, plus those seen live on /ws) and stored alerts. Pure: no DOM, so
// the rules have unit tests (test/unit/web-annotations.test.ts).
// Docker says a restart in several events: `docker restart` gives kill, die, stop, start, restart;
// a restart policy gives die, start; an OOM kill gives oom (then die if the main process went).
// One incident is one annotation:
// - restart: a start after a die (at the start, with the exit code and the time down), or a
//   `restart` action that is not the end of such a pair;
// - OOM: an `oom` event; a die right after it is its exit, not another annotation; an OOM alert
//   of the same container close to it is the same incident (its message is added to the text);
// - died: a die with no start after it (stopped or crashed for good, so far).

/** Lifecycle actions the page asks the server for. */
export const ANNOTATED_ACTIONS = ['start', 'die', 'restart', 'oom'];

const RESTART_PAIR_MS = 10_000; // `restart` after the start of the die/start pair it ends
const OOM_EXIT_MS = 5_000; // a die this soon after an oom is the kill's exit
const ALERT_SAME_MS = 60_000; // an OOM alert this close to an oom event reports that event

// Events of one millisecond in the order Docker emits them (the server sorts ties by name,
// which puts `restart` before its `start`).
const ORDER = { kill: 1, oom: 2, die: 3, stop: 4, start: 5, restart: 6 };
const rank = (e) => ORDER[e.action] ?? 0;

/** "1 s", "4 min", "2 h 5 min". */
export function fmtDown(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** The same event from the store and from /ws has the same key. */
export const eventKey = (e) => `${e.containerId}|${e.action}|${e.ts}`;

/**
 * events: [{ containerId, action, ts, exitCode }] in any order, of any containers, without
 * repeats (see eventKey). Returns [{ ts, kind: 'restart'|'oom'|'die', text, targetId, source: 'event' }], oldest first.
 */
export function lifecycleAnnotations(events) {
  const byContainer = new Map();
  for (const e of events) {
    if (!byContainer.has(e.containerId)) byContainer.set(e.containerId, []);
    byContainer.get(e.containerId).push(e);
  }
  const out = [];
  for (const [id, list] of byContainer) {
    list.sort((a, b) => a.ts - b.ts || rank(a) - rank(b));
    const ann = (ts, kind, text) => { const a = { ts, kind, text, targetId: id, source: 'event' }; out.push(a); return a; };
    let die = null; // the last die not yet followed by a start
    let lastRestart = null;
    let lastOom = null;
    const endDie = () => {
      if (die && !die.covered) ann(die.ts, 'die', `died (exit ${die.exitCode})`);
      die = null;
    };
    for (const e of list) {
      if (e.action === 'oom') {
        lastOom = ann(e.ts, 'oom', 'OOM kill');
      } else if (e.action === 'die') {
        endDie(); // two dies without a start between: the first was the end
        die = { ts: e.ts, exitCode: e.exitCode, covered: false };
        if (lastOom && e.ts - lastOom.ts <= OOM_EXIT_MS) { lastOom.text += ` (exit ${e.exitCode})`; die.covered = true; }
      } else if (e.action === 'start' && die) {
        lastRestart = ann(e.ts, 'restart', `restarted (exit ${die.exitCode}, down ${fmtDown(e.ts - die.ts)})`);
        die = null;
      } else if (e.action === 'restart') {
        if (lastRestart && e.ts - lastRestart.ts <= RESTART_PAIR_MS) continue;
        die = null;
        lastRestart = ann(e.ts, 'restart', 'restarted');
      }
    }
    endDie();
  }
  return out.sort((a, b) => a.ts - b.ts);
}

/** An alert's annotation kind: OOM and restart rules get their own, the rest are alerts. */
export function alertKind(a) {
  if (a.state === 'resolved') return 'resolved';
  const rule = String(a.ruleId || '');
  if (/oom/i.test(rule)) return 'oom';
  if (/restart/i.test(rule)) return 'restart';
  return 'alert';
}

/**
 * Lifecycle annotations and alerts ([{ ts, kind, text, targetId, source: 'alert' }]) together,
 * oldest first; an OOM alert close to an oom event of its container is folded into that event's.
 */
export function mergeAnnotations(lifecycle, alerts) {
  const merged = lifecycle.map((a) => ({ ...a }));
  for (const al of alerts) {
    const same = al.kind === 'oom' && merged.find((a) => a.kind === 'oom' && a.source === 'event'
      && a.targetId === al.targetId && Math.abs(a.ts - al.ts) <= ALERT_SAME_MS && !a.alert);
    if (same) { same.alert = true; same.text += ` · ${al.text}`; } else merged.push(al);
  }
  return merged.sort((x, y) => x.ts - y.ts);
}
