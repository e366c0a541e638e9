// What the page's long tasks are made of: a Chromium trace (the DevTools timeline categories)
// of the renderer's main thread, summarised per top-level task. A task's time is split by the
// self time of the events inside it (script, style, layout, paint, GC, message parsing...), so
// "busy but not script/layout/style" gets a name.
import { readFileSync } from 'node:fs';

export const TRACE_CATEGORIES = [
  'devtools.timeline', 'disabled-by-default-devtools.timeline', 'disabled-by-default-devtools.timeline.frame',
  'toplevel', 'v8', 'v8.execute', 'blink', 'blink.user_timing', 'cc', 'gpu', 'disabled-by-default-v8.gc',
];

interface TraceEvent { name: string; cat: string; ph: string; ts: number; dur?: number; pid: number; tid: number; args?: Record<string, unknown> }

export interface TraceSummary {
  seconds: number;
  tasks: number;
  busyPct: number;
  longTasks: number;
  longestMs: number;
  /** Self time by event name over all tasks, ms, largest first. */
  selfMs: Record<string, number>;
  /** The same over the tasks > 50 ms only. */
  longSelfMs: Record<string, number>;
  /** Per top-level task kind (the name of its first child), count and total ms. */
  byKind: Record<string, { count: number; ms: number; maxMs: number }>;
}

const round = (x: number) => Math.round(x * 10) / 10;
const top = (m: Map<string, number>, n = 14) =>
  Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, round(v)]));

export function summariseTrace(file: string): TraceSummary {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  const events = Array.isArray(raw) ? raw : raw.traceEvents ?? [];
  // The page's renderer main thread: the thread named CrRendererMain with the most events.
  const mains = events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && (e.args as { name?: string })?.name === 'CrRendererMain');
  const count = new Map<string, number>();
  for (const e of events) if (e.ph === 'X') for (const m of mains) if (m.pid === e.pid && m.tid === e.tid) count.set(`${e.pid}:${e.tid}`, (count.get(`${e.pid}:${e.tid}`) ?? 0) + 1);
  const main = [...count].sort((a, b) => b[1] - a[1])[0]?.[0];
  const onMain = events.filter((e) => e.ph === 'X' && typeof e.dur === 'number' && `${e.pid}:${e.tid}` === main).sort((a, b) => a.ts - b.ts || (b.dur! - a.dur!));
  const isTask = (e: TraceEvent) => e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask';
  const tasks: { ev: TraceEvent; children: TraceEvent[] }[] = [];
  let cur: { ev: TraceEvent; children: TraceEvent[] } | null = null;
  for (const e of onMain) {
    if (cur && e.ts < cur.ev.ts + cur.ev.dur!) { if (!isTask(e)) cur.children.push(e); continue; }
    if (isTask(e)) { cur = { ev: e, children: [] }; tasks.push(cur); }
  }
  const selfMs = new Map<string, number>();
  const longSelfMs = new Map<string, number>();
  const byKind = new Map<string, { count: number; ms: number; maxMs: number }>();
  for (const t of tasks) {
    const long = t.ev.dur! > 50_000;
    // Self time: an event's duration minus its direct children's (events are properly nested).
    const stack: { e: TraceEvent; self: number }[] = [];
    const flush = (upTo: number) => {
      while (stack.length && stack[stack.length - 1]!.e.ts + stack[stack.length - 1]!.e.dur! <= upTo) {
        const s = stack.pop()!;
        selfMs.set(s.e.name, (selfMs.get(s.e.name) ?? 0) + s.self / 1000);
        if (long) longSelfMs.set(s.e.name, (longSelfMs.get(s.e.name) ?? 0) + s.self / 1000);
      }
    };
    let childTotal = 0;
    for (const c of t.children) {
      flush(c.ts);
      if (stack.length) stack[stack.length - 1]!.self -= c.dur!; else childTotal += c.dur!;
      stack.push({ e: c, self: c.dur! });
    }
    flush(Number.MAX_SAFE_INTEGER);
    const idle = (t.ev.dur! - childTotal) / 1000;
    selfMs.set('(task, not in an event)', (selfMs.get('(task, not in an event)') ?? 0) + idle);
    if (long) longSelfMs.set('(task, not in an event)', (longSelfMs.get('(task, not in an event)') ?? 0) + idle);
    const kind = t.children[0]?.name ?? '(empty)';
    const k = byKind.get(kind) ?? { count: 0, ms: 0, maxMs: 0 };
    k.count++; k.ms += t.ev.dur! / 1000; k.maxMs = Math.max(k.maxMs, t.ev.dur! / 1000);
    byKind.set(kind, k);
  }
  const span = tasks.length ? (tasks[tasks.length - 1]!.ev.ts + tasks[tasks.length - 1]!.ev.dur! - tasks[0]!.ev.ts) / 1e6 : 0;
  const busy = tasks.reduce((s, t) => s + t.ev.dur!, 0) / 1e6;
  const long = tasks.filter((t) => t.ev.dur! > 50_000);
  return {
    seconds: round(span), tasks: tasks.length, busyPct: span ? round((100 * busy) / span) : 0,
    longTasks: long.length, longestMs: round(Math.max(0, ...long.map((t) => t.ev.dur! / 1000))),
    selfMs: top(selfMs), longSelfMs: top(longSelfMs),
    byKind: Object.fromEntries([...byKind].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10)
      .map(([k, v]) => [k, { count: v.count, ms: round(v.ms), maxMs: round(v.maxMs) }])),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(summariseTrace(process.argv[2]!), null, 2));
}
