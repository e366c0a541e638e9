// The alerts page: what fires now (and whether a silence or an acknowledgement covers it), the
// silences, a form for a new one, and what resolved recently. Admins get the buttons; the
// lists reload when /ws reports an alert transition.
import { api, clearSession, connectLive, el, getToken, goToLogin, HttpError } from './common.js';

const $ = (id) => document.getElementById(id);
const state = { me: null, silenceFilter: 'active', reloadTimer: null, live: null };

const fmtTime = (ms) => (Number.isFinite(ms) ? new Date(ms).toLocaleString() : '–');
const isAdmin = () => state.me && state.me.role === 'admin';
const containerOf = (a) => `${a.containerName || a.containerId || '(host)'} @ ${a.host}`;
const fmtMatchers = (ms) => ms.map((m) => `${m.name}${m.op}"${m.value}"`).join(', ');

function setStatus(text) { $('status').textContent = text || ''; }

/** The history chart around an alert's time: its container (or its host), 30 min either side. */
export function historyLink(a) {
  const t = a.timestampMs;
  const q = new URLSearchParams();
  const realContainer = a.containerId && a.containerName && !/^(watch|disk):/.test(a.containerId);
  if (realContainer) q.set('container', a.containerId); else q.set('host', a.host);
  q.set('from', String(t - 30 * 60_000));
  q.set('to', String(Math.min(Math.max(Date.now(), t + 60_000), t + 30 * 60_000)));
  return `/dashboard.html?${q}`;
}
const containerCell = (a) => el('td', { class: 'container' }, [el('a', { class: 'history-link', href: historyLink(a), title: 'history at the alert time', text: containerOf(a) })]);

// ---------- filters (client side, over both tables) ----------

function applyFilters() {
  const text = $('f-text').value.trim().toLowerCase();
  const sev = $('f-severity').value;
  const host = $('f-host').value;
  const st = $('f-state').value;
  let shown = 0;
  for (const tr of document.querySelectorAll('#firing-list tr, #resolved-list tr')) {
    const d = tr.dataset;
    const rowState = tr.classList.contains('resolved-row') ? 'resolved' : d.state;
    const ok = (!text || tr.textContent.toLowerCase().includes(text)) && (!sev || d.severity === sev)
      && (!host || d.host === host) && (!st || rowState === st);
    tr.hidden = !ok;
    if (ok) shown++;
  }
  $('f-count').textContent = `${shown} shown`;
}

function fillHostFilter(list) {
  const sel = $('f-host');
  const have = new Set([...sel.options].map((o) => o.value));
  for (const h of [...new Set(list.map((a) => a.host))].sort()) if (!have.has(h)) sel.append(el('option', { value: h, text: h }));
}

// ---------- firing ----------

function alertState(a) {
  const parts = [];
  if (a.silenced_by && a.silenced_by.length) parts.push(el('span', { class: 'pill pill-silenced', text: 'silenced' }));
  if (a.acknowledged) {
    parts.push(el('span', { class: 'pill pill-acked', text: `acknowledged by ${a.acknowledged.by} at ${fmtTime(Date.parse(a.acknowledged.at))}` }));
    if (a.acknowledged.comment) parts.push(el('span', { class: 'muted ack-comment', text: ` “${a.acknowledged.comment}”` }));
  }
  if (!parts.length) parts.push(el('span', { class: 'pill pill-firing', text: 'firing' }));
  return parts;
}

async function acknowledge(a, btn) {
  const comment = window.prompt(`Acknowledge ${a.ruleId} on ${containerOf(a)}?\nComment (optional):`, '');
  if (comment === null) return;
  btn.disabled = true;
  try {
    const ack = await api(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { method: 'POST', body: comment.trim() ? { comment: comment.trim() } : {} });
    setStatus(ack.by === state.me.username ? 'Acknowledged.' : `Already acknowledged by ${ack.by}.`);
  } catch (e) {
    setStatus(`Could not acknowledge: ${e.message}`);
  }
  await loadFiring();
}

async function loadFiring() {
  const body = await api('/api/alerts/active');
  const list = (body && body.alerts) || [];
  list.sort((x, y) => (x.severity === y.severity ? y.timestampMs - x.timestampMs : x.severity === 'critical' ? -1 : 1));
  const rows = list.map((a) => {
    const actions = [];
    if (isAdmin() && !a.acknowledged) {
      const btn = el('button', { type: 'button', class: 'ack-btn', text: 'Acknowledge' });
      btn.addEventListener('click', () => acknowledge(a, btn));
      actions.push(btn);
    }
    const st = a.acknowledged ? 'acknowledged' : a.silenced_by && a.silenced_by.length ? 'silenced' : 'firing';
    return el('tr', { class: 'alert-row', dataset: { alertId: a.id, state: st, severity: a.severity, host: a.host } }, [
      el('td', {}, [el('span', { class: `sev sev-${a.severity}`, text: a.severity })]),
      el('td', { text: a.ruleId }),
      containerCell(a),
      el('td', { text: fmtTime(a.timestampMs) }),
      el('td', { class: 'msg', text: a.message }),
      el('td', { class: 'alert-state' }, alertState(a)),
      el('td', { class: 'actions' }, actions),
    ]);
  });
  $('firing-list').replaceChildren(...rows);
  $('firing-count').textContent = String(list.length);
  $('firing-empty').hidden = list.length > 0;
  fillHostFilter(list);
  applyFilters();
}

// ---------- resolved ----------

async function loadResolved() {
  let list = [];
  try {
    const body = await api('/api/alerts?state=resolved&limit=200');
    list = (body && body.alerts) || [];
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
  }
  list = [...list].sort((x, y) => y.timestampMs - x.timestampMs).slice(0, 50);
  $('resolved-list').replaceChildren(...list.map((a) => el('tr', { class: 'resolved-row', dataset: { alertId: a.id, severity: a.severity, host: a.host, state: 'resolved' } }, [
    el('td', { text: fmtTime(a.timestampMs) }),
    el('td', { text: a.ruleId }),
    containerCell(a),
    el('td', { class: 'msg', text: a.message }),
  ])));
  $('resolved-empty').hidden = list.length > 0;
  fillHostFilter(list);
  applyFilters();
}

for (const id of ['f-text', 'f-severity', 'f-host', 'f-state']) $(id).addEventListener('input', applyFilters);
$('alert-filters').addEventListener('submit', (ev) => ev.preventDefault());

// ---------- silences ----------

async function expire(s, btn) {
  if (!window.confirm(`Expire the silence ${fmtMatchers(s.matchers)} now?`)) return;
  btn.disabled = true;
  try {
    await api(`/api/silences/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
    setStatus('Silence expired.');
  } catch (e) {
    setStatus(`Could not expire: ${e.message}`);
  }
  await Promise.all([loadSilences(), loadFiring()]);
}

async function loadSilences() {
  const q = state.silenceFilter ? `?state=${state.silenceFilter}` : '';
  const body = await api(`/api/silences${q}`);
  const list = (body && body.silences) || [];
  for (const b of document.querySelectorAll('.silence-filter')) b.setAttribute('aria-pressed', String(b.dataset.state === state.silenceFilter));
  $('silence-list').replaceChildren(...list.map((s) => {
    const actions = [];
    if (isAdmin() && s.status !== 'expired') {
      const btn = el('button', { type: 'button', class: 'expire-btn', text: 'Expire' });
      btn.addEventListener('click', () => expire(s, btn));
      actions.push(btn);
    }
    return el('tr', { class: 'silence-row', dataset: { silenceId: s.id, status: s.status } }, [
      el('td', {}, [el('span', { class: `pill pill-${s.status}`, text: s.status })]),
      el('td', { class: 'matchers', text: fmtMatchers(s.matchers) }),
      el('td', { text: fmtTime(s.startsAtMs) }),
      el('td', { text: fmtTime(s.endsAtMs) }),
      el('td', { text: s.expiredBy ? `${s.createdBy} (expired by ${s.expiredBy})` : s.createdBy }),
      el('td', { class: 'msg', text: s.comment }),
      el('td', { class: 'actions' }, actions),
    ]);
  }));
  $('silences-empty').hidden = list.length > 0;
}

for (const b of document.querySelectorAll('.silence-filter')) {
  b.addEventListener('click', () => { state.silenceFilter = b.dataset.state; loadSilences().catch(showLoadError); });
}

// ---------- new silence ----------

/** The matchers from the form, with the input each one came from (so a 400 on matchers.N lands beside it). */
function buildMatchers() {
  const out = [];
  const from = [];
  const glob = (v) => v.trim();
  const host = glob($('s-host').value);
  if (host) { out.push({ name: 'host', op: '=', value: host }); from.push('s-host'); }
  const container = glob($('s-container').value);
  if (container) { out.push({ name: 'container', op: '=', value: container }); from.push('s-container'); }
  const rule = $('s-rule').value;
  if (rule) { out.push({ name: 'alertname', op: '=', value: rule }); from.push('s-rule'); }
  const label = $('s-label').value.trim();
  if (label) {
    const i = label.indexOf('=');
    if (i <= 0) throw Object.assign(new Error('use key=value'), { inputId: 's-label' });
    out.push({ name: `label.${label.slice(0, i).trim()}`, op: '=', value: label.slice(i + 1).trim() });
    from.push('s-label');
  }
  return { matchers: out, from };
}

function clearErrors() {
  for (const e of document.querySelectorAll('#silence-form .field-error')) { e.textContent = ''; e.hidden = true; }
  for (const e of document.querySelectorAll('#silence-form [aria-invalid]')) e.removeAttribute('aria-invalid');
  $('form-error').hidden = true;
}

function showFieldError(target, message) {
  const slot = document.querySelector(`#silence-form .field-error[data-for="${target}"]`);
  if (!slot) { $('form-error').textContent = message; $('form-error').hidden = false; return; }
  slot.textContent = message;
  slot.hidden = false;
  const input = $(target);
  if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
}

/** Where the API's `field` belongs on the form. */
function inputFor(field, from, usedDuration) {
  const m = /^matchers\.(\d+)(\.|$)/.exec(field || '');
  if (m) return from[Number(m[1])] || 'matchers';
  switch (field) {
    case 'matchers': return 'matchers';
    case 'starts_at': return 's-from';
    case 'ends_at': return usedDuration ? 's-duration' : 's-until';
    case 'duration': return 's-duration';
    case 'comment': return 's-comment';
    default: return null;
  }
}

$('silence-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  let built;
  try { built = buildMatchers(); } catch (e) { showFieldError(e.inputId, e.message); return; }
  if (!built.matchers.length) { showFieldError('matchers', 'give at least one of host, container name, rule or label'); return; }
  const body = { matchers: built.matchers, comment: $('s-comment').value };
  const fromV = $('s-from').value;
  const untilV = $('s-until').value;
  const duration = $('s-duration').value.trim();
  if (fromV) body.starts_at = new Date(fromV).toISOString();
  if (untilV) body.ends_at = new Date(untilV).toISOString();
  if (duration) body.duration = duration;
  if ($('s-force').checked) body.force = true;
  const btn = $('s-submit');
  btn.disabled = true;
  try {
    const s = await api('/api/silences', { method: 'POST', body });
    setStatus(`Silence created (${s.status}) for ${fmtMatchers(s.matchers)}.`);
    $('silence-form').reset();
    state.silenceFilter = s.status;
    await Promise.all([loadSilences(), loadFiring()]);
  } catch (e) {
    if (e instanceof HttpError && e.status === 400 && e.body) {
      const field = e.body.field;
      const target = inputFor(field, built.from, Boolean(duration) && !untilV);
      // The message starts with the API's field name; beside the field it is redundant.
      const message = field && e.body.message.startsWith(`${field}: `) ? e.body.message.slice(field.length + 2) : e.body.message;
      if (target) showFieldError(target, message);
      else { $('form-error').textContent = e.body.message; $('form-error').hidden = false; }
    } else {
      $('form-error').textContent = `Could not create the silence: ${e.message}`;
      $('form-error').hidden = false;
    }
  } finally {
    btn.disabled = false;
  }
});

async function loadRules() {
  try {
    const doc = await api('/api/alert-rules');
    const ids = [...new Set(((doc && doc.rules) || []).map((r) => r.id))].sort();
    $('s-rule').replaceChildren(el('option', { value: '', text: 'any rule' }), ...ids.map((id) => el('option', { value: id, text: id })));
  } catch {
    // Alerting off: the rule select keeps "any rule" only.
  }
}

// ---------- loading, live ----------

function showLoadError(e) {
  if (e instanceof HttpError && e.status === 401) return; // sessionExpired took over
  setStatus(`Could not load: ${e.message}`);
}

async function reloadAll() {
  await Promise.all([loadFiring(), loadSilences(), loadResolved()]);
  document.body.dataset.loaded = 'true';
}

/** Transitions arrive in bursts (a host going away fires many): one reload per burst. */
function scheduleReload() {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(() => reloadAll().catch(showLoadError), 400);
}

function onStatus(status) {
  const c = $('conn');
  c.className = `conn conn-${status}`;
  c.dataset.status = status;
  c.textContent = status === 'live' ? 'live' : status === 'down' ? 'disconnected' : status;
}

$('logout').addEventListener('click', () => { clearSession(); location.assign('/'); });

async function start() {
  try {
    state.me = await api('/api/auth/me');
  } catch (e) {
    showLoadError(e);
    return;
  }
  $('whoami').textContent = `${state.me.username} (${state.me.role})`;
  $('new-silence').hidden = !isAdmin();
  $('viewer-note').hidden = isAdmin();
  if (isAdmin()) await loadRules();
  await reloadAll().catch(showLoadError);
  state.live = connectLive({ onStatus, onMessage: (msg) => { if (msg.type === 'alert') scheduleReload(); } });
  // Silences start and end on their own; acknowledgements can come from other replicas.
  setInterval(() => reloadAll().catch(showLoadError), 30_000);
}

if (!getToken()) goToLogin();
else start();
