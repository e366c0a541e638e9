// Historical charts for up to 5 containers (or hosts) overlaid: Chart.js (the UMD global from
// /vendor), data from the history API, the right edge kept growing by /ws samples, and
// annotations for alerts (GET /api/alerts) and lifecycle events (restart, OOM kill, die: the
// stored ones of every overlaid container, GET /api/containers/:id/events, plus those arriving
// on /ws while the page is open; annotations.js turns them into one annotation per incident).
// The targets and the range live in the URL, so a link shows the same chart.
import { clearSession, connectLive, el, fmtBytes, fmtRate, getToken, goToLogin, HttpError, onThemeChange } from './common.js';
import { axisTickLabel, niceByteTicks } from './format.js';
import { fetchAlerts, fetchEvents, fetchHistory, listTargets, livePoint } from './history-api.js';
import { alertKind, ANNOTATED_ACTIONS, eventKey, lifecycleAnnotations, mergeAnnotations } from './annotations.js';

const $ = (id) => document.getElementById(id);
const Chart = window.Chart;
const RANGES = { '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000, '7d': 7 * 24 * 3_600_000 };
const MAX_TARGETS = 5;
const COLORS = ['#4ea1ff', '#3fb950', '#d29922', '#a371f7', '#f778ba'];

const state = {
  kind: null, targets: [], range: '1h', fromMs: 0, toMs: 0, loadSeq: 0, live: null,
  names: new Map(), // id -> display name
  annotations: [], // { ts, kind: 'oom'|'restart'|'die'|'alert'|'resolved', text, targetId, source: 'event'|'alert' }
  alertAnnotations: [], // the stored alerts of the targets in the range
  events: new Map(), // eventKey -> lifecycle event of a target: stored ones in the range, then live ones
  liveEvents: [], // every lifecycle event seen on /ws (targets change), newest last
};

// ---------- charts ----------

const pad = (n) => String(n).padStart(2, '0');
function tickLabel(ms) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return state.toMs - state.fromMs > 36 * 3_600_000 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
}

const cssVar = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
const ANNOTATION_COLOR = { oom: '--bad', restart: '--warn', die: '--bad', alert: '--bad', resolved: '--ok' };
const ANNOTATION_SHORT = { oom: 'OOM', restart: 'restart', die: 'died', alert: 'alert', resolved: 'resolved' };

/** Vertical dashed lines with a short label at each annotation inside the visible range. */
const annotationPlugin = {
  id: 'dwAnnotations',
  afterDatasetsDraw(chart) {
    const x = chart.scales.x;
    const { top, bottom, left, right } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.font = '10px system-ui, sans-serif';
    // Labels of events close in time stack downwards instead of printing over each other.
    let lastPx = -Infinity;
    let row = 0;
    for (const a of state.annotations) {
      if (!(a.ts >= x.min && a.ts <= x.max)) continue;
      const px = x.getPixelForValue(a.ts);
      if (px < left || px > right) continue;
      ctx.strokeStyle = cssVar(ANNOTATION_COLOR[a.kind] || '--bad', '#f85149');
      ctx.fillStyle = ctx.strokeStyle;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, bottom);
      ctx.stroke();
      row = px - lastPx < 48 ? (row + 1) % 6 : 0;
      lastPx = px;
      ctx.fillText(ANNOTATION_SHORT[a.kind] || a.kind, Math.min(px + 3, right - 44), top + 10 + row * 11);
    }
    ctx.restore();
  },
};

function makeChart(canvasId, kind, yMax) {
  return new Chart($(canvasId), {
    type: 'line',
    data: { datasets: [] },
    plugins: [annotationPlugin],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', ticks: { callback: (v) => tickLabel(v), maxRotation: 0, autoSkip: true } },
        y: {
          beginAtZero: true, ...(yMax ? { suggestedMax: yMax } : {}),
          ticks: { callback: (v, i, ticks) => axisTickLabel(v, i, ticks, kind) },
          // Byte axes: ticks on round KiB/MiB values, not on round decimal byte counts.
          ...(kind === 'bytes' || kind === 'rate' ? {
            afterBuildTicks: (axis) => {
              const t = niceByteTicks(axis.min, axis.max);
              axis.max = t[t.length - 1];
              axis.ticks = t.map((value) => ({ value }));
            },
          } : {}),
        },
      },
      plugins: {
        legend: { display: false, labels: { boxWidth: 12 } },
        tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString(), label: (it) => `${it.dataset.label}: ${fmtValue(kind, it.parsed.y)}` } },
      },
    },
  });
}
const fmtValue = (kind, v) => (v === null || v === undefined ? '–' : kind === 'pct' ? `${Number(v).toFixed(1)}%` : kind === 'rate' ? fmtRate(v) : fmtBytes(v));

const charts = {
  cpu: makeChart('chart-cpu', 'pct', 100),
  mem: makeChart('chart-mem', 'bytes'),
  net: makeChart('chart-net', 'rate'),
  blk: makeChart('chart-blk', 'rate'),
};
// For tests and the console: Chart.getChart(canvas) works too.
window.dockwatchCharts = charts;

function applyThemeToCharts() {
  const muted = cssVar('--muted', '#8b98a5');
  const line = cssVar('--line', '#2a3542');
  const text = cssVar('--text', '#e6edf3');
  for (const c of Object.values(charts)) {
    for (const axis of ['x', 'y']) { c.options.scales[axis].ticks.color = muted; c.options.scales[axis].grid = { color: line }; }
    c.options.plugins.legend.labels.color = text;
    c.update('none');
  }
}
applyThemeToCharts();
onThemeChange(applyThemeToCharts);

/**
 * Series per chart: one target -> the detailed series (rx and tx apart); several -> one line
 * per target (rx+tx, read+write summed) so up to 5 stay readable.
 */
function seriesDefs() {
  const one = state.targets.length <= 1;
  const defs = { cpu: [], mem: [], net: [], blk: [] };
  state.targets.forEach((t, i) => {
    const name = state.names.get(t.id) || t.id.slice(0, 12);
    const color = COLORS[i % COLORS.length];
    if (one) {
      defs.cpu.push({ label: 'CPU %', key: 'cpu', t, color: COLORS[0] });
      defs.mem.push({ label: 'used', key: 'mem', t, color: COLORS[0] });
      defs.net.push({ label: 'rx', key: 'rx', t, color: COLORS[0] }, { label: 'tx', key: 'tx', t, color: COLORS[1] });
      defs.blk.push({ label: 'read', key: 'rd', t, color: COLORS[0] }, { label: 'write', key: 'wr', t, color: COLORS[1] });
    } else {
      defs.cpu.push({ label: name, key: 'cpu', t, color });
      defs.mem.push({ label: name, key: 'mem', t, color });
      defs.net.push({ label: name, key: 'net', t, color });
      defs.blk.push({ label: name, key: 'blk', t, color });
    }
  });
  return defs;
}

const rate = (cur, prev, key) => {
  if (!prev || cur[key] === null || prev[key] === null || !(cur.ts > prev.ts) || cur[key] < prev[key]) return null;
  return (cur[key] - prev[key]) / ((cur.ts - prev.ts) / 1000);
};
const sum = (a, b) => (a === null || b === null ? null : a + b);

function toRows(points, prev) {
  const rows = [];
  for (const p of points) {
    const rx = rate(p, prev, 'rx');
    const tx = rate(p, prev, 'tx');
    const rd = rate(p, prev, 'rd');
    const wr = rate(p, prev, 'wr');
    rows.push({ ts: p.ts, cpu: p.cpu, mem: p.mem, rx, tx, rd, wr, net: sum(rx, tx), blk: sum(rd, wr) });
    prev = p;
  }
  return rows;
}

function rebuildDatasets() {
  const defs = seriesDefs();
  for (const [name, chart] of Object.entries(charts)) {
    chart.data.datasets = defs[name].map((d) => ({
      label: d.label, data: (d.t.rows || []).map((r) => ({ x: r.ts, y: r[d.key] })),
      borderColor: d.color, backgroundColor: d.color, pointRadius: 0, borderWidth: 1.5, spanGaps: false,
      dwTarget: d.t.id, dwKey: d.key,
    }));
    chart.options.plugins.legend.display = chart.data.datasets.length > 1;
    chart.options.scales.x.min = state.fromMs;
    chart.options.scales.x.max = state.toMs;
    chart.update('none');
  }
}

function appendRow(t, row) {
  // Relative ranges slide: the right edge is now, the left edge follows.
  state.toMs = Math.max(state.toMs, row.ts);
  state.fromMs = state.toMs - RANGES[state.range];
  t.rows.push(row);
  while (t.rows.length && t.rows[0].ts < state.fromMs) t.rows.shift();
  for (const chart of Object.values(charts)) {
    for (const ds of chart.data.datasets) {
      if (ds.dwTarget !== t.id) continue;
      ds.data.push({ x: row.ts, y: row[ds.dwKey] });
      while (ds.data.length && ds.data[0].x < state.fromMs) ds.data.shift();
    }
    chart.options.scales.x.min = state.fromMs;
    chart.options.scales.x.max = state.toMs;
    chart.update('none');
  }
}

// ---------- annotations ----------

const MAX_LIVE_EVENTS = 5000;

async function loadAnnotations(seq) {
  const ids = new Set(state.targets.map((t) => t.id));
  const alertsP = fetchAlerts(state.fromMs, state.toMs).catch((e) => {
    if (e instanceof HttpError && e.status === 404) return []; // alerting off: no alert annotations
    throw e;
  });
  // Lifecycle events are per container; a host chart shows its alerts only.
  const eventsP = state.kind === 'container'
    ? Promise.all(state.targets.map((t) => fetchEvents(t.id, state.fromMs, state.toMs, ANNOTATED_ACTIONS).catch((e) => {
      // A container the store does not know (400): no events, the others' still show.
      if (e instanceof HttpError && e.status === 400) return [];
      throw e;
    })))
    : Promise.resolve([]);
  const [alerts, stored] = await Promise.all([alertsP, eventsP]);
  if (seq !== state.loadSeq) return;
  const mine = alerts.filter((a) => (state.kind === 'container' ? ids.has(a.containerId) : ids.has(a.host) && !a.containerName));
  state.alertAnnotations = mine.map((a) => ({ ts: a.timestampMs, kind: alertKind(a), text: `${a.state === 'resolved' ? 'resolved' : a.severity}: ${a.message || a.ruleId}`, targetId: a.containerId || a.host, source: 'alert' }));
  // Live events the store has too (the same key) count once.
  state.events = new Map();
  for (const e of [...stored.flat(), ...state.liveEvents.filter((x) => ids.has(x.containerId))]) state.events.set(eventKey(e), e);
  refreshAnnotations();
}

function refreshAnnotations() {
  state.annotations = mergeAnnotations(lifecycleAnnotations([...state.events.values()]), state.alertAnnotations);
  renderAnnotations();
}

function renderAnnotations() {
  const inRange = state.annotations.filter((a) => a.ts >= state.fromMs && a.ts <= state.toMs);
  $('annotation-list').replaceChildren(...inRange.map((a) => el('li', { class: `annotation ann-${a.kind}`, dataset: { kind: a.kind, ts: String(a.ts), source: a.source, target: a.targetId } }, [
    el('time', { datetime: new Date(a.ts).toISOString(), text: new Date(a.ts).toLocaleString() }), ' ',
    el('span', { class: `pill pill-${a.kind === 'resolved' ? 'ok' : a.kind === 'restart' ? 'pending' : 'firing'}`, text: ANNOTATION_SHORT[a.kind] || a.kind }), ' ',
    state.targets.length > 1 ? el('strong', { text: `${state.names.get(a.targetId) || a.targetId.slice(0, 12)} ` }) : '',
    el('span', { text: a.text }),
  ])));
  $('annotations').hidden = inRange.length === 0;
  for (const c of Object.values(charts)) c.update('none');
}

// ---------- loading ----------

function setStatus(text) { $('status').textContent = text; }

function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function load() {
  const seq = ++state.loadSeq;
  if (state.range !== 'custom') {
    state.toMs = Date.now();
    state.fromMs = state.toMs - RANGES[state.range];
  }
  for (const b of document.querySelectorAll('button.range')) b.setAttribute('aria-pressed', String(b.dataset.range === state.range));
  $('from').value = toLocalInput(state.fromMs);
  $('to').value = toLocalInput(state.toMs);
  document.body.dataset.loaded = 'false';
  // Hosts report no block I/O series.
  $('card-blk').hidden = state.kind === 'host';
  renderTargetChips();
  if (!state.targets.length) { setStatus('Choose a container or host.'); rebuildDatasets(); return; }
  setStatus('Loading…');
  try {
    const results = await Promise.all(state.targets.map((t) => fetchHistory(state.kind, t.id, state.fromMs, state.toMs)));
    if (seq !== state.loadSeq) return;
    let total = 0;
    state.targets.forEach((t, i) => {
      const { points } = results[i];
      t.rows = toRows(points, null);
      t.last = points.length ? points[points.length - 1] : null;
      total += points.length;
    });
    rebuildDatasets();
    setStatus(`${total} points${state.targets.length > 1 ? ` · ${state.targets.length} overlaid` : ''}${state.range === 'custom' ? '' : ' · live'}`);
    await loadAnnotations(seq).catch(() => undefined);
    if (seq !== state.loadSeq) return;
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (seq !== state.loadSeq) return;
    for (const t of state.targets) t.rows = [];
    rebuildDatasets();
    if (e instanceof HttpError && e.status === 401) return;
    setStatus(`Cannot load history: ${e.message}`);
    document.body.dataset.loaded = 'error';
  }
}

function syncUrl() {
  const q = new URLSearchParams();
  for (const t of state.targets) q.append(state.kind, t.id);
  if (state.range === 'custom') { q.set('from', String(state.fromMs)); q.set('to', String(state.toMs)); } else q.set('range', state.range);
  history.replaceState(null, '', `?${q}`);
}

function onMessage(msg) {
  if (msg.type === 'event') {
    if (!ANNOTATED_ACTIONS.includes(msg.action)) return;
    const e = { containerId: msg.container_id, action: msg.action, ts: msg.ts || Date.now(), exitCode: msg.exit_code ?? 0, health: msg.health ?? '' };
    state.liveEvents.push(e);
    if (state.liveEvents.length > MAX_LIVE_EVENTS) state.liveEvents.splice(0, state.liveEvents.length - MAX_LIVE_EVENTS);
    if (state.kind === 'container' && state.targets.some((t) => t.id === e.containerId)) {
      state.events.set(eventKey(e), e);
      refreshAnnotations();
    }
    return;
  }
  if (state.range === 'custom') return;
  for (const t of state.targets) {
    const p = livePoint(state.kind, t.id, msg);
    if (!p || typeof p.ts !== 'number' || !t.rows || (t.last && p.ts <= t.last.ts)) continue;
    const [row] = toRows([p], t.last);
    t.last = p;
    appendRow(t, row);
  }
}

function onStatus(status) {
  const c = $('conn');
  c.className = `conn conn-${status}`;
  c.dataset.status = status;
  c.textContent = status === 'live' ? 'live' : status === 'down' ? 'disconnected, retrying' : status;
}

let targetLists = { containers: [], hosts: [] };

async function fillTargets() {
  const sel = $('target');
  targetLists = await listTargets();
  const { containers, hosts } = targetLists;
  for (const c of containers) state.names.set(c.id, c.name);
  for (const h of hosts) state.names.set(h.hostname, h.hostname);
  const hostGroup = el('optgroup', { label: 'Hosts' }, hosts.map((h) => el('option', { value: `host:${h.hostname}`, text: h.hostname })));
  const cGroup = el('optgroup', { label: 'Containers' }, containers
    .sort((a, b) => (a.name || '').localeCompare(b.name || ''))
    .map((c) => el('option', { value: `container:${c.id}`, text: `${c.name} (${c.host})` })));
  sel.replaceChildren(el('option', { value: '', text: '— choose —' }), hostGroup, cGroup);
  const first = state.targets[0];
  // A target from the URL that is not in the latest lists (gone since) can still have history.
  if (first && !sel.querySelector(`option[value="${CSS.escape(`${state.kind}:${first.id}`)}"]`)) {
    sel.append(el('option', { value: `${state.kind}:${first.id}`, text: first.id }));
  }
  sel.value = first ? `${state.kind}:${first.id}` : '';
  renderTargetChips();
  rebuildDatasets();
}

/** The overlaid targets as removable chips, and the "compare with" choices of the same kind. */
function renderTargetChips() {
  const chips = state.targets.map((t, i) => {
    const name = state.names.get(t.id) || t.id.slice(0, 12);
    const rm = el('button', { type: 'button', class: 'link chip-remove', 'aria-label': `Remove ${name}`, text: '×' });
    rm.addEventListener('click', () => { state.targets.splice(i, 1); syncUrl(); load(); });
    return el('li', { class: 'chip', dataset: { id: t.id } }, [el('span', { class: 'swatch', dataset: { i: String(i) } }), el('span', { text: name }), state.targets.length > 1 ? rm : '']);
  });
  $('target-chips').replaceChildren(...chips);
  const cmp = $('compare');
  const list = state.kind === 'host'
    ? targetLists.hosts.map((h) => ({ id: h.hostname, text: h.hostname }))
    : targetLists.containers.map((c) => ({ id: c.id, text: `${c.name} (${c.host})` }));
  const taken = new Set(state.targets.map((t) => t.id));
  cmp.replaceChildren(el('option', { value: '', text: state.targets.length >= MAX_TARGETS ? `at most ${MAX_TARGETS}` : '— add to the chart —' }),
    ...list.filter((o) => !taken.has(o.id)).map((o) => el('option', { value: o.id, text: o.text })));
  cmp.disabled = !state.targets.length || state.targets.length >= MAX_TARGETS;
}

// ---------- wiring ----------

function readUrl() {
  const q = new URLSearchParams(location.search);
  const cs = q.getAll('container').filter(Boolean);
  const hs = q.getAll('host').filter(Boolean);
  if (cs.length) { state.kind = 'container'; state.targets = cs.slice(0, MAX_TARGETS).map((id) => ({ id })); }
  else if (hs.length) { state.kind = 'host'; state.targets = hs.slice(0, MAX_TARGETS).map((id) => ({ id })); }
  const from = Number(q.get('from'));
  const to = Number(q.get('to'));
  if (from && to && from < to) { state.range = 'custom'; state.fromMs = from; state.toMs = to; }
  else if (RANGES[q.get('range')]) state.range = q.get('range');
}

$('target').addEventListener('change', () => {
  const [kind, ...rest] = $('target').value.split(':');
  const id = rest.join(':');
  if (!kind || !id) { state.targets = []; state.kind = null; }
  else if (kind !== state.kind) { state.kind = kind; state.targets = [{ id }]; }
  else state.targets = [{ id }, ...state.targets.slice(1).filter((t) => t.id !== id)];
  syncUrl();
  load();
});
$('compare').addEventListener('change', () => {
  const id = $('compare').value;
  if (!id || state.targets.length >= MAX_TARGETS || state.targets.some((t) => t.id === id)) return;
  state.targets.push({ id });
  syncUrl();
  load();
});
for (const b of document.querySelectorAll('button.range')) {
  b.addEventListener('click', () => { state.range = b.dataset.range; syncUrl(); load(); });
}
$('controls').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const from = new Date($('from').value).getTime();
  const to = new Date($('to').value).getTime();
  if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) { setStatus('Custom range: "from" must be before "to".'); return; }
  state.range = 'custom';
  state.fromMs = from;
  state.toMs = to;
  syncUrl();
  load();
});
$('logout').addEventListener('click', () => { clearSession(); location.assign('/'); });

if (!getToken()) {
  // Not logged in (or the session lapsed): the login page comes back to this URL.
  goToLogin();
} else {
  readUrl();
  fillTargets().catch(() => undefined);
  load();
  state.live = connectLive({ onMessage, onStatus });
}
