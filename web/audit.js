// The audit trail (admins only): who did what, when, and how it went. Read only.
import { api, clearSession, el, getToken, goToLogin, HttpError } from './common.js';

const $ = (id) => document.getElementById(id);

const fmtTime = (ms) => new Date(ms).toLocaleString();

/** Details as `key: value` pairs; matchers the way the alerts page writes them. */
function fmtDetails(d) {
  return Object.entries(d || {}).map(([k, v]) => {
    if (k === 'matchers' && Array.isArray(v)) return `${k}: ${v.map((m) => `${m.name}${m.op}"${m.value}"`).join(', ')}`;
    if (/At(Ms)?$/.test(k) && typeof v === 'number') return `${k}: ${fmtTime(v)}`;
    return `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`;
  }).join('; ');
}

function syncUrl() {
  const q = new URLSearchParams();
  if ($('f-action').value.trim()) q.set('action', $('f-action').value.trim());
  if ($('f-actor').value.trim()) q.set('actor', $('f-actor').value.trim());
  history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  return q;
}

async function load() {
  const q = syncUrl();
  q.set('limit', $('f-limit').value);
  try {
    const body = await api(`/api/audit?${q}`);
    const events = (body && body.events) || [];
    $('audit-list').replaceChildren(...events.map((e) => el('tr', { class: `audit-row outcome-${e.outcome}`, dataset: { action: e.action, actor: e.actor } }, [
      el('td', { text: fmtTime(e.atMs) }),
      el('td', { class: 'actor', text: e.actor }),
      el('td', { class: 'action', text: e.action }),
      el('td', { class: 'target', text: e.target }),
      el('td', {}, [el('span', { class: `pill pill-${e.outcome}`, text: e.outcome })]),
      el('td', { class: 'details', text: fmtDetails(e.details) }),
    ])));
    $('audit-empty').hidden = events.length > 0;
    $('audit-count').textContent = `${events.length} event${events.length === 1 ? '' : 's'}`;
    $('status').textContent = '';
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return;
    if (e instanceof HttpError && e.status === 403) { showAdminsOnly(); return; }
    $('status').textContent = `Could not load the audit trail: ${e.message}`;
  }
}

function showAdminsOnly() {
  $('audit-view').hidden = true;
  $('admins-only').hidden = false;
  document.body.dataset.loaded = 'true';
}

$('audit-filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
$('logout').addEventListener('click', () => { clearSession(); location.assign('/'); });

async function start() {
  let me;
  try {
    me = await api('/api/auth/me');
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 401)) $('admins-only').textContent = `Cannot reach the server: ${e.message}`;
    return;
  }
  $('whoami').textContent = `${me.username} (${me.role})`;
  if (me.role !== 'admin') { showAdminsOnly(); return; }
  const q = new URLSearchParams(location.search);
  $('f-action').value = q.get('action') || '';
  $('f-actor').value = q.get('actor') || '';
  $('audit-view').hidden = false;
  await load();
}

if (!getToken()) goToLogin();
else start();
