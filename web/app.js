// The live dashboard: login, then one card per host and container fed by /ws.
import {
  api, clearSession, connectLive, drawSparkline, el, fmtBytes, fmtPct, fmtRate, getToken, HttpError, login,
  nextAfterLogin, onSessionExpired, onThemeChange, rateTracker, takeFlash,
} from './common.js';
import { createContainerTable } from './table.js';

const $ = (id) => document.getElementById(id);
const HISTORY = 60; // samples per sparkline

const containers = new Map(); // id -> { data, rates, series, card }
const hosts = new Map(); // hostname -> { data, rates, series, card }
const alerts = new Map(); // key -> alert
const rates = rateTracker();
let live = null;
let dirty = false;
let alertsDirty = true;

// ---------- view: cards or the table (default from TABLE_FROM containers; the choice is kept per browser) ----------
const VIEW_KEY = 'dockwatch.view';
const SORT_KEY = 'dockwatch.table.sort';
const TABLE_FROM = 24;
const chosenView = () => { const v = localStorage.getItem(VIEW_KEY); return v === 'table' || v === 'cards' ? v : null; };
const viewMode = () => chosenView() || (containers.size >= TABLE_FROM ? 'table' : 'cards');
let table = null;
function getTable() {
  if (!table) {
    let initialSort = null;
    try { initialSort = JSON.parse(localStorage.getItem(SORT_KEY) || 'null'); } catch { initialSort = null; }
    table = createContainerTable({
      root: $('ctable-root'),
      getEntries: () => [...containers.values()],
      initialSort,
      onSortChange: (sort) => localStorage.setItem(SORT_KEY, JSON.stringify(sort)),
    });
    table.onInvalidate = schedule;
    table.setGroup($('group').value);
    table.setSparkColor(getComputedStyle(document.documentElement).getPropertyValue('--spark').trim() || '#4ea1ff');
  }
  return table;
}
onThemeChange(() => {
  if (table) { table.setSparkColor(getComputedStyle(document.documentElement).getPropertyValue('--spark').trim() || '#4ea1ff'); schedule(); }
});

// ---------- login ----------

// Transitions claimed by another server replica reach this page only through a reload of the list.
let alertTimer = null;

function showLogin(message) {
  if (live) { live.close(); live = null; }
  clearInterval(alertTimer);
  $('live-view').hidden = true;
  $('nav').hidden = true;
  $('conn').hidden = true;
  $('login-view').hidden = false;
  const msg = $('login-message');
  msg.textContent = message || '';
  msg.hidden = !message;
  $('username').focus();
}

onSessionExpired(() => showLogin(takeFlash() || 'Your session expired. Please log in again.'));

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const btn = $('login-submit');
  btn.disabled = true;
  try {
    const r = await login($('username').value.trim(), $('password').value);
    $('password').value = '';
    // Back to the page that sent us here (any page of this site), else the live view.
    const next = nextAfterLogin();
    if (next && next !== '/' && next !== '/index.html') { location.assign(next); return; }
    if (location.search) history.replaceState(null, '', '/');
    startLive(r.username, r.role);
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 0;
    showLogin(status === 401 ? 'Invalid username or password.'
      : status === 429 ? `Too many attempts. ${e.message.replace(/^too many login attempts, /, 'Please ')}.`
        : status ? `Login failed: ${e.message}` : 'Cannot reach the server.');
  } finally {
    btn.disabled = false;
  }
});

$('logout').addEventListener('click', () => { clearSession(); showLogin('Logged out.'); });

// ---------- live view ----------

async function startLive(username, role) {
  $('login-view').hidden = true;
  $('live-view').hidden = false;
  $('nav').hidden = false;
  $('conn').hidden = false;
  $('whoami').textContent = username ? `${username} (${role})` : '';
  try {
    const [hostList, list] = await Promise.all([api('/api/hosts'), api('/api/containers')]);
    for (const h of hostList || []) if (h.sample) applyHost(h.hostname, h.sample, h.id);
    for (const c of list || []) applyContainer(c);
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return; // sessionExpired already took over
  }
  loadAlerts();
  clearInterval(alertTimer);
  alertTimer = setInterval(loadAlerts, 30_000);
  if (live) live.close();
  live = connectLive({ onMessage, onStatus, query: WS_QUERY });
  schedule();
}

async function loadAlerts() {
  try {
    // Replay the recent firing and resolved events oldest first, so a resolved alert clears.
    const body = await api('/api/alerts');
    const list = Array.isArray(body) ? body : (body && body.alerts) || [];
    alerts.clear();
    alertsDirty = true;
    for (const a of [...list].sort((x, y) => (x.timestampMs ?? 0) - (y.timestampMs ?? 0))) applyAlert(a);
  } catch {
    // Alerting may be off; the panel just stays hidden.
  }
  schedule();
}

function onStatus(status, attempt, delayMs) {
  const c = $('conn');
  c.className = `conn conn-${status}`;
  c.dataset.status = status;
  c.textContent = status === 'live' ? 'live'
    : status === 'connecting' ? (attempt ? `reconnecting (try ${attempt + 1})` : 'connecting')
      : status === 'down' ? `disconnected, retry in ${Math.ceil(delayMs / 1000)} s`
        : status === 'forbidden' ? 'not allowed' : 'session expired';
}

// One /ws message per host per round ({type:'samples'}) instead of one per container: the page
// pays per message. localStorage dockwatch.ws=per-sample keeps the old stream (the bench compares).
const WS_QUERY = localStorage.getItem('dockwatch.ws') === 'per-sample' ? '' : '?batch=1';

function onMessage(msg) {
  if (msg.type === 'samples' && Array.isArray(msg.containers)) for (const c of msg.containers) applyContainer({ host: msg.host, ...c });
  else if (msg.type === 'sample' && msg.container) applyContainer({ host: msg.host, ...msg.container });
  else if (msg.type === 'host' && msg.sample) applyHost(msg.host, msg.sample, msg.agent_id);
  else if (msg.type === 'event') applyEvent(msg);
  else if (msg.type === 'alert' && msg.alert) applyAlert(msg.alert);
  else return;
  schedule();
}

const push = (arr, v) => { arr.push(v); if (arr.length > HISTORY) arr.shift(); };

function applyContainer(c) {
  let entry = containers.get(c.id);
  if (!entry) {
    entry = { data: { id: c.id }, rates: {}, series: { cpu: [], mem: [], net: [], blk: [] }, card: null };
    containers.set(c.id, entry);
  }
  const s = c.stats || {};
  const prevTs = entry.data.stats && entry.data.stats.ts;
  entry.data = { ...entry.data, ...c };
  if (typeof s.ts === 'number' && s.ts !== prevTs) {
    const r = rates(`c:${c.id}`, s.ts, {
      rx: s.net_rx_bytes, tx: s.net_tx_bytes, rd: s.blk_read_bytes, wr: s.blk_write_bytes,
    });
    entry.rates = r;
    push(entry.series.cpu, s.cpu_percent ?? null);
    push(entry.series.mem, s.mem_usage_bytes ?? null);
    push(entry.series.net, r.rx === null || r.tx === null ? null : r.rx + r.tx);
    push(entry.series.blk, r.rd === null || r.wr === null ? null : r.rd + r.wr);
  }
  entry.dirty = true;
  entry.tableDirty = true;
}

const EVENT_STATE = { start: 'running', restart: 'running', unpause: 'running', pause: 'paused', die: 'exited', stop: 'exited', kill: null, oom: null, destroy: 'removed', create: 'created' };

function applyEvent(e) {
  const entry = containers.get(e.container_id);
  if (!entry) return;
  if (e.action === 'health_status' && e.health) entry.data = { ...entry.data, health: e.health };
  const state = EVENT_STATE[e.action];
  if (state) entry.data = { ...entry.data, state };
  entry.dirty = true;
  entry.tableDirty = true;
}

function applyHost(hostname, sample, agentId) {
  let entry = hosts.get(hostname);
  if (!entry) {
    entry = { data: {}, rates: {}, series: { cpu: [], mem: [], net: [] }, card: null };
    hosts.set(hostname, entry);
    const opt = el('option', { value: hostname, text: hostname });
    $('filter-host').append(opt);
  }
  if (sample.ts !== entry.data.ts) {
    const r = rates(`h:${hostname}`, sample.ts, { rx: sample.net_rx_bytes, tx: sample.net_tx_bytes });
    entry.rates = r;
    push(entry.series.cpu, sample.cpu_percent ?? null);
    push(entry.series.mem, sample.mem_used_bytes ?? null);
    push(entry.series.net, r.rx === null || r.tx === null ? null : r.rx + r.tx);
  }
  entry.data = { ...sample, hostname, agent_id: agentId };
  entry.dirty = true;
}

const alertKey = (a) => a.id || `${a.ruleId || a.rule_id}|${a.containerId || a.container_id || a.host}`;

function applyAlert(a) {
  alertsDirty = true;
  const key = alertKey(a);
  // A resolution may carry a different id than the firing event: match on rule + target too.
  const target = `${a.ruleId || a.rule_id}|${a.containerId || a.container_id || a.host}`;
  if (a.state === 'resolved') {
    for (const [k, v] of alerts) if (k === key || `${v.ruleId || v.rule_id}|${v.containerId || v.container_id || v.host}` === target) alerts.delete(k);
  } else {
    alerts.set(key, a);
  }
}

// ---------- rendering (at most once per frame) ----------

function schedule() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(render);
}

function metric(label, valueEl, canvas) {
  return el('div', { class: 'metric' }, [el('span', { class: 'label', text: label }), valueEl, canvas].filter(Boolean));
}

function buildContainerCard(id) {
  const v = (cls) => el('span', { class: `value ${cls}` });
  const spark = (cls) => el('canvas', { class: `spark ${cls}`, 'aria-hidden': 'true' });
  const card = el('article', { class: 'card container-card', dataset: { containerId: id } }, [
    el('header', {}, [
      el('a', { class: 'name', href: `/dashboard.html?container=${encodeURIComponent(id)}`, title: 'history' }),
      el('span', { class: 'state' }),
      el('span', { class: 'health' }),
    ]),
    el('div', { class: 'sub muted' }, [el('span', { class: 'host' }), ' · ', el('span', { class: 'image' }), el('span', { class: 'source' })]),
    el('div', { class: 'metrics' }, [
      metric('CPU', v('cpu'), spark('spark-cpu')),
      metric('Memory', v('mem'), spark('spark-mem')),
      metric('Net rx/tx', v('net'), spark('spark-net')),
      metric('Block r/w', v('blk'), spark('spark-blk')),
      metric('PIDs', v('pids')),
    ]),
    el('div', { class: 'labels muted' }),
  ]);
  return card;
}

function updateContainerCard(entry) {
  const { data: c, rates: r, series, card } = entry;
  const s = c.stats || {};
  const q = (sel) => card.querySelector(sel);
  q('.name').textContent = c.name || c.id.slice(0, 12);
  const state = q('.state');
  state.textContent = c.state || 'unknown';
  state.className = `state state-${(c.state || 'unknown').replace(/[^a-z]/g, '')}`;
  const health = q('.health');
  health.textContent = c.health && c.health !== 'none' ? c.health : '';
  health.className = `health health-${(c.health || 'none').replace(/[^a-z]/g, '')}`;
  card.dataset.state = c.state || '';
  q('.host').textContent = c.host || '';
  q('.image').textContent = c.image || '';
  // Stats from the Engine API (a remote engine, or no cgroup files): say so, as GET /api/containers does.
  q('.source').textContent = c.source === 'engine-api' ? ' · stats via Engine API' : '';
  q('.source').title = c.source === 'engine-api' ? 'source: engine-api (not read from cgroup files)' : '';
  q('.value.cpu').textContent = fmtPct(s.cpu_percent);
  q('.value.mem').textContent = `${fmtBytes(s.mem_usage_bytes)}${s.mem_limit_bytes ? ` / ${fmtBytes(s.mem_limit_bytes)}` : ''}`;
  q('.value.net').textContent = `${fmtRate(r.rx)} / ${fmtRate(r.tx)}`;
  q('.value.blk').textContent = `${fmtRate(r.rd)} / ${fmtRate(r.wr)}`;
  q('.value.pids').textContent = s.pids ?? '–';
  q('.labels').textContent = Object.entries(c.labels || {}).slice(0, 6).map(([k, v]) => `${k}=${v}`).join('  ');
  drawSparkline(q('.spark-cpu'), series.cpu, { max: 100 });
  drawSparkline(q('.spark-mem'), series.mem, { max: s.mem_limit_bytes && s.mem_limit_bytes < 2 ** 50 ? s.mem_limit_bytes : undefined });
  drawSparkline(q('.spark-net'), series.net);
  drawSparkline(q('.spark-blk'), series.blk);
}

function buildHostCard(name) {
  const v = (cls) => el('span', { class: `value ${cls}` });
  const spark = (cls) => el('canvas', { class: `spark ${cls}`, 'aria-hidden': 'true' });
  return el('article', { class: 'card host-card', dataset: { host: name } }, [
    el('header', {}, [el('a', { class: 'name', href: `/dashboard.html?host=${encodeURIComponent(name)}`, text: name }), el('span', { class: 'kind muted', text: 'host' })]),
    el('div', { class: 'metrics' }, [
      metric('CPU', v('cpu'), spark('spark-cpu')),
      metric('Memory', v('mem'), spark('spark-mem')),
      metric('Net rx/tx', v('net'), spark('spark-net')),
      metric('Load', v('load')),
    ]),
  ]);
}

function updateHostCard(entry) {
  const { data: h, rates: r, series, card } = entry;
  const q = (sel) => card.querySelector(sel);
  q('.value.cpu').textContent = `${fmtPct(h.cpu_percent)} of ${h.num_cpus ?? '?'} CPUs`;
  q('.value.mem').textContent = `${fmtBytes(h.mem_used_bytes)} / ${fmtBytes(h.mem_total_bytes)}`;
  q('.value.net').textContent = `${fmtRate(r.rx)} / ${fmtRate(r.tx)}`;
  q('.value.load').textContent = [h.load1, h.load5, h.load15].map((x) => (typeof x === 'number' ? x.toFixed(2) : '–')).join(' ');
  drawSparkline(q('.spark-cpu'), series.cpu, { max: 100 });
  drawSparkline(q('.spark-mem'), series.mem, { max: h.mem_total_bytes });
  drawSparkline(q('.spark-net'), series.net);
}

/** The filters' predicate, with the form read once per render rather than once per container. */
function matcher() {
  const host = $('filter-host').value;
  const name = $('filter-name').value.trim().toLowerCase();
  const st = $('filter-state').value;
  const label = $('filter-label').value.trim();
  const [k, ...rest] = label.split('=');
  return (c) => {
    if (host && c.host !== host) return false;
    if (name && !(c.name || '').toLowerCase().includes(name) && !c.id.startsWith(name) && !(c.image || '').toLowerCase().includes(name)) return false;
    if (st === 'unhealthy' ? c.health !== 'unhealthy' : st === 'not-running' ? c.state === 'running' : st && c.state !== st) return false;
    if (label) {
      const labels = c.labels || {};
      if (!(k in labels)) return false;
      if (rest.length && labels[k] !== rest.join('=')) return false;
    }
    return true;
  };
}

const STATE_ORDER = { running: 0, restarting: 1, paused: 2, created: 3, exited: 4, dead: 5, removed: 6 };
const SORTS = {
  name: (a, b) => (a.name || '').localeCompare(b.name || ''),
  host: (a, b) => (a.host || '').localeCompare(b.host || '') || SORTS.name(a, b),
  cpu: (a, b) => ((b.stats && b.stats.cpu_percent) || 0) - ((a.stats && a.stats.cpu_percent) || 0) || SORTS.name(a, b),
  mem: (a, b) => ((b.stats && b.stats.mem_usage_bytes) || 0) - ((a.stats && a.stats.mem_usage_bytes) || 0) || SORTS.name(a, b),
  state: (a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || SORTS.name(a, b),
};

function render() {
  dirty = false;
  const hostBox = $('hosts');
  // The table view hides the host cards: no drawing (sparklines read layout) for hidden cards.
  if (viewMode() !== 'table') for (const [name, entry] of hosts) {
    if (!entry.card) { entry.card = buildHostCard(name); hostBox.append(entry.card); }
    entry.card.hidden = Boolean($('filter-host').value && $('filter-host').value !== name);
    if (entry.dirty) { updateHostCard(entry); entry.dirty = false; }
  }

  const mode = viewMode();
  if (document.body.dataset.view !== mode) {
    document.body.dataset.view = mode;
    $('view-toggle').setAttribute('aria-pressed', String(mode === 'table'));
    $('view-toggle').textContent = mode === 'table' ? 'Show cards' : 'Show table';
    $('containers').hidden = mode === 'table';
    $('ctable-root').hidden = mode !== 'table';
    $('sort-label').hidden = mode === 'table';
    $('group-label').hidden = mode !== 'table';
    // The dense view leaves the host cards to the hosts page: one line here.
    $('hosts').hidden = mode === 'table';
    $('hosts-line').hidden = mode !== 'table';
    if (mode === 'table') { for (const e of containers.values()) if (e.card) e.card.remove(); getTable().invalidate(); }
    else for (const e of containers.values()) e.painted = false;
  }
  if (mode === 'table') {
    const hl = `${hosts.size} host${hosts.size === 1 ? '' : 's'}: ${[...hosts.keys()].sort().join(', ')}`;
    if ($('hosts-summary').textContent !== hl) $('hosts-summary').textContent = hl;
    const matches = matcher();
    const { shown } = getTable().render((e) => matches(e.data));
    const text = `${shown} of ${containers.size} containers`;
    if ($('shown-count').textContent !== text) $('shown-count').textContent = text;
    if ($('empty').hidden !== containers.size > 0) $('empty').hidden = containers.size > 0;
    renderAlerts();
    if (document.body.dataset.rendered !== String(containers.size)) document.body.dataset.rendered = String(containers.size);
    return;
  }
  const box = $('containers');
  const sort = SORTS[$('sort').value] || SORTS.name;
  const matches = matcher();
  const shown = [...containers.values()].filter((e) => matches(e.data)).sort((a, b) => sort(a.data, b.data));
  const shownSet = new Set(shown);
  for (const entry of containers.values()) {
    if (!shownSet.has(entry) && entry.card) entry.card.remove();
  }
  let prev = null;
  for (const entry of shown) {
    if (!entry.card) entry.card = buildContainerCard(entry.data.id);
    // Move only when out of place, so the DOM is not rebuilt every frame.
    const want = prev ? prev.nextSibling : box.firstChild;
    if (want !== entry.card) box.insertBefore(entry.card, want);
    if (entry.dirty || !entry.painted) { updateContainerCard(entry); entry.dirty = false; entry.painted = true; }
    prev = entry.card;
  }
  $('shown-count').textContent = `${shown.length} of ${containers.size} containers`;
  $('empty').hidden = containers.size > 0;
  renderAlerts();
  document.body.dataset.rendered = String(containers.size);
}

function renderAlerts() {
  if (!alertsDirty) return;
  alertsDirty = false;
  const list = $('alert-list');
  // A handful here, the rest on the alerts page (a host going away can fire hundreds).
  const all = [...alerts.values()].sort((x, y) => (x.severity === 'critical' ? 0 : 1) - (y.severity === 'critical' ? 0 : 1) || (y.timestampMs ?? 0) - (x.timestampMs ?? 0));
  const more = all.length - 5;
  list.replaceChildren(...all.slice(0, 5).map((a) => el('li', { class: `alert sev-${String(a.severity || 'warning').replace(/[^a-z]/g, '')}` }, [
    el('strong', { text: a.containerName || a.container_name || a.host || '' }), ' ',
    el('span', { text: a.message || `${a.ruleId || a.rule_id}: ${a.value}` }),
  ])), ...(more > 0 ? [el('li', { class: 'alert-more' }, [el('a', { href: '/alerts.html', text: `and ${more} more on the alerts page` })])] : []));
  $('alert-count').textContent = String(alerts.size);
  $('alerts').hidden = alerts.size === 0;
}

for (const id of ['filter-host', 'filter-name', 'filter-label', 'filter-state', 'sort', 'group']) {
  $(id).addEventListener('input', () => {
    for (const e of containers.values()) e.painted = false;
    if (table) { if (id === 'group') table.setGroup($('group').value); else table.invalidate(); }
    schedule();
  });
}
$('view-toggle').addEventListener('click', () => {
  localStorage.setItem(VIEW_KEY, viewMode() === 'table' ? 'cards' : 'table');
  schedule();
});
$('filters').addEventListener('submit', (ev) => ev.preventDefault());

// ---------- start ----------

// getToken() itself shows the login with "session expired" when the stored token has lapsed.
const token = getToken();
const nextPage = nextAfterLogin();
if (token && nextPage && nextPage !== '/' && nextPage !== '/index.html') {
  location.assign(nextPage);
} else if (token) {
  api('/api/auth/me').then((me) => startLive(me.username, me.role), (e) => {
    if (!(e instanceof HttpError && e.status === 401)) showLogin('Cannot reach the server.');
  });
} else if ($('login-view').hidden) {
  showLogin(takeFlash() || '');
}
