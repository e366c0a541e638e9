// Hosts overview: one row per agent's host from GET /api/hosts, polled every second. The
// server says whether the agent is online (heard from within 3 collection intervals); the
// page also counts the seconds since it was last seen.
import { api, clearSession, el, fmtBytes, fmtPct, getToken, goToLogin, HttpError } from './common.js';

const $ = (id) => document.getElementById(id);
const rows = new Map(); // agent id -> { tr, cells }
const setStatus = (t) => { $('status').textContent = t || ''; };

function ago(ms) {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}

function bar(pct) {
  const span = el('span');
  span.style.width = `${Math.max(0, Math.min(100, pct || 0))}%`; // CSSOM: allowed by the CSP, unlike style=""
  return el('span', { class: `bar${pct >= 90 ? ' bad' : pct >= 75 ? ' warn' : ''}`, 'aria-hidden': 'true' }, [span]);
}

function row(h) {
  let r = rows.get(h.id);
  if (!r) {
    const cells = {};
    const tr = el('tr', { class: 'host-row', dataset: { agentId: h.id } });
    const LABELS = { host: 'Host', agent: 'Agent', seen: 'Last seen', cpu: 'CPU', mem: 'Memory', disks: 'Disks', load: 'Load', containers: 'Containers' };
    for (const k of Object.keys(LABELS)) {
      cells[k] = el('td', { class: `col-${k}`, dataset: { label: LABELS[k] } });
      tr.append(cells[k]);
    }
    r = { tr, cells };
    rows.set(h.id, r);
  }
  const s = h.sample || {};
  const c = r.cells;
  r.tr.dataset.status = h.status;
  r.tr.dataset.hostname = h.hostname;
  c.host.replaceChildren(el('a', { href: `/dashboard.html?host=${encodeURIComponent(h.hostname)}`, text: h.hostname }));
  c.agent.replaceChildren(el('span', { class: `pill pill-${h.status}`, text: h.status }), el('span', { class: 'muted agent-id', text: ` ${h.id}` }));
  const seen = Date.now() - Date.parse(h.last_seen);
  c.seen.textContent = `${ago(seen)} (every ${Math.round(h.interval_ms / 1000)} s)`;
  c.cpu.textContent = h.sample ? `${fmtPct(s.cpu_percent)} of ${s.num_cpus} CPUs` : '–';
  c.mem.textContent = h.sample ? `${fmtBytes(s.mem_used_bytes)} / ${fmtBytes(s.mem_total_bytes)} (${fmtPct(s.mem_percent)})` : '–';
  c.disks.replaceChildren(...(s.disks || []).map((d) => el('div', { class: 'disk', dataset: { mount: d.mount } }, [
    el('span', { class: 'mount', text: d.mount }), bar(d.used_percent),
    el('span', { class: 'disk-pct', text: `${fmtPct(d.used_percent)} of ${fmtBytes(d.total_bytes)}` }),
  ])));
  c.load.textContent = h.sample ? [s.load1, s.load5, s.load15].map((x) => (typeof x === 'number' ? x.toFixed(2) : '–')).join(' / ') : '–';
  const by = h.containers_by_state || {};
  const other = h.container_count - (by.running || 0) - (by.exited || 0);
  c.containers.replaceChildren(
    el('span', { class: 'count-total', text: String(h.container_count) }), ' ',
    el('span', { class: 'muted', text: `(${by.running || 0} running, ${by.exited || 0} exited${other > 0 ? `, ${other} other` : ''})` }),
  );
  return r.tr;
}

async function refresh() {
  const list = await api('/api/hosts');
  list.sort((a, b) => (a.status === b.status ? a.hostname.localeCompare(b.hostname) : a.status === 'offline' ? -1 : 1));
  $('host-list').replaceChildren(...list.map(row));
  const off = list.filter((h) => h.status === 'offline').length;
  $('host-count').textContent = `${list.length}${off ? ` · ${off} offline` : ''}`;
  $('hosts-empty').hidden = list.length > 0;
  document.body.dataset.loaded = 'true';
}

$('logout').addEventListener('click', () => { clearSession(); location.assign('/'); });

async function start() {
  try {
    const me = await api('/api/auth/me');
    $('whoami').textContent = `${me.username} (${me.role})`;
    await refresh();
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 401)) setStatus(`Could not load: ${e.message}`);
    return;
  }
  setInterval(() => refresh().then(() => setStatus(''), (e) => { if (!(e instanceof HttpError && e.status === 401)) setStatus(`Could not load: ${e.message}`); }), 1000);
}

if (!getToken()) goToLogin();
else start();
