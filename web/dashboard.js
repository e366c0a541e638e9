// Historical charts for one container or host: Chart.js (the UMD global from /vendor), data
// from the history API, and the right edge kept growing by /ws samples.
import { clearSession, connectLive, el, fmtBytes, fmtRate, getToken, HttpError } from './common.js';
import { fetchHistory, listTargets, livePoint } from './history-api.js';

const $ = (id) => document.getElementById(id);
const Chart = window.Chart;
const RANGES = { '15m': 15 * 60_000, '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000, '7d': 7 * 24 * 3_600_000 };

const state = { kind: null, id: null, range: '1h', fromMs: 0, toMs: 0, last: null, live: null, loadSeq: 0 };

// ---------- charts ----------

const pad = (n) => String(n).padStart(2, '0');
function tickLabel(ms) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return state.toMs - state.fromMs > 36 * 3_600_000 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
}

function makeChart(canvasId, datasets, yFormat, yMax) {
  const colors = ['#4ea1ff', '#3fb950', '#d29922', '#a371f7'];
  return new Chart($(canvasId), {
    type: 'line',
    data: { datasets: datasets.map((label, i) => ({ label, data: [], borderColor: colors[i], backgroundColor: colors[i], pointRadius: 0, borderWidth: 1.5, spanGaps: false })) },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', ticks: { callback: (v) => tickLabel(v), maxRotation: 0, autoSkip: true, color: '#8b98a5' }, grid: { color: '#2a3542' } },
        y: { beginAtZero: true, ...(yMax ? { suggestedMax: yMax } : {}), ticks: { callback: (v) => yFormat(v), color: '#8b98a5' }, grid: { color: '#2a3542' } },
      },
      plugins: {
        legend: { display: datasets.length > 1, labels: { color: '#e6edf3', boxWidth: 12 } },
        tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString(), label: (it) => `${it.dataset.label}: ${yFormat(it.parsed.y)}` } },
      },
    },
  });
}

const charts = {
  cpu: makeChart('chart-cpu', ['CPU %'], (v) => `${Number(v).toFixed(0)}%`, 100),
  mem: makeChart('chart-mem', ['used'], (v) => fmtBytes(v)),
  net: makeChart('chart-net', ['rx', 'tx'], (v) => fmtRate(v)),
  blk: makeChart('chart-blk', ['read', 'write'], (v) => fmtRate(v)),
};
// For tests and the console: Chart.getChart(canvas) works too.
window.dockwatchCharts = charts;

const rate = (cur, prev, key) => {
  if (!prev || cur[key] === null || prev[key] === null || !(cur.ts > prev.ts) || cur[key] < prev[key]) return null;
  return (cur[key] - prev[key]) / ((cur.ts - prev.ts) / 1000);
};

function toRows(points, prev) {
  const rows = [];
  for (const p of points) {
    rows.push({
      ts: p.ts, cpu: p.cpu, mem: p.mem,
      rx: rate(p, prev, 'rx'), tx: rate(p, prev, 'tx'), rd: rate(p, prev, 'rd'), wr: rate(p, prev, 'wr'),
    });
    prev = p;
  }
  return rows;
}

const SERIES = [['cpu', 0, 'cpu'], ['mem', 0, 'mem'], ['net', 0, 'rx'], ['net', 1, 'tx'], ['blk', 0, 'rd'], ['blk', 1, 'wr']];

function setData(rows) {
  for (const [chart, i, key] of SERIES) charts[chart].data.datasets[i].data = rows.map((r) => ({ x: r.ts, y: r[key] }));
  for (const c of Object.values(charts)) {
    c.options.scales.x.min = state.fromMs;
    c.options.scales.x.max = state.toMs;
    c.update('none');
  }
}

function appendRow(row) {
  // Relative ranges slide: the right edge is now, the left edge follows.
  state.toMs = Math.max(state.toMs, row.ts);
  state.fromMs = state.toMs - RANGES[state.range];
  for (const [chart, i, key] of SERIES) {
    const data = charts[chart].data.datasets[i].data;
    data.push({ x: row.ts, y: row[key] });
    while (data.length && data[0].x < state.fromMs) data.shift();
  }
  for (const c of Object.values(charts)) {
    c.options.scales.x.min = state.fromMs;
    c.options.scales.x.max = state.toMs;
    c.update('none');
  }
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
  if (!state.id) { setStatus('Choose a container or host.'); setData([]); return; }
  setStatus('Loading…');
  try {
    const { points } = await fetchHistory(state.kind, state.id, state.fromMs, state.toMs);
    if (seq !== state.loadSeq) return;
    setData(toRows(points, null));
    state.last = points.length ? points[points.length - 1] : null;
    setStatus(`${points.length} points${state.range === 'custom' ? '' : ' · live'}`);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (seq !== state.loadSeq) return;
    setData([]);
    if (e instanceof HttpError && e.status === 401) return;
    setStatus(`Cannot load history: ${e.message}`);
    document.body.dataset.loaded = 'error';
  }
}

function syncUrl() {
  const q = new URLSearchParams();
  if (state.id) q.set(state.kind, state.id);
  if (state.range === 'custom') { q.set('from', String(state.fromMs)); q.set('to', String(state.toMs)); } else q.set('range', state.range);
  history.replaceState(null, '', `?${q}`);
}

function onMessage(msg) {
  if (state.range === 'custom' || !state.id) return;
  const p = livePoint(state.kind, state.id, msg);
  if (!p || typeof p.ts !== 'number' || (state.last && p.ts <= state.last.ts)) return;
  const [row] = toRows([p], state.last);
  state.last = p;
  appendRow(row);
}

function onStatus(status) {
  const c = $('conn');
  c.className = `conn conn-${status}`;
  c.dataset.status = status;
  c.textContent = status === 'live' ? 'live' : status === 'down' ? 'disconnected, retrying' : status;
}

async function fillTargets() {
  const sel = $('target');
  const { containers, hosts } = await listTargets();
  const hostGroup = el('optgroup', { label: 'Hosts' }, hosts.map((h) => el('option', { value: `host:${h.hostname}`, text: h.hostname })));
  const cGroup = el('optgroup', { label: 'Containers' }, containers
    .sort((a, b) => (a.name || '').localeCompare(b.name || ''))
    .map((c) => el('option', { value: `container:${c.id}`, text: `${c.name} (${c.host})` })));
  sel.replaceChildren(el('option', { value: '', text: '— choose —' }), hostGroup, cGroup);
  // A target from the URL that is not in the latest lists (gone since) can still have history.
  if (state.id && !sel.querySelector(`option[value="${CSS.escape(`${state.kind}:${state.id}`)}"]`)) {
    sel.append(el('option', { value: `${state.kind}:${state.id}`, text: state.id }));
  }
  sel.value = state.id ? `${state.kind}:${state.id}` : '';
}

// ---------- wiring ----------

function readUrl() {
  const q = new URLSearchParams(location.search);
  if (q.get('container')) { state.kind = 'container'; state.id = q.get('container'); }
  else if (q.get('host')) { state.kind = 'host'; state.id = q.get('host'); }
  const from = Number(q.get('from'));
  const to = Number(q.get('to'));
  if (from && to && from < to) { state.range = 'custom'; state.fromMs = from; state.toMs = to; }
  else if (RANGES[q.get('range')]) state.range = q.get('range');
}

$('target').addEventListener('change', () => {
  const [kind, ...rest] = $('target').value.split(':');
  state.kind = kind || null;
  state.id = rest.join(':') || null;
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
  // Not logged in (or the session lapsed: getToken already sent us to the login).
  if (location.pathname.endsWith('dashboard.html')) location.assign('/');
} else {
  readUrl();
  fillTargets().catch(() => undefined);
  load();
  state.live = connectLive({ onMessage, onStatus });
}
