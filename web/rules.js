// The rules page: the alert rules in force (GET /api/alert-rules) for everyone; for admins the
// same table as an editor, saved with PUT /api/alert-rules. The server validates; its 400 names
// the field ({error, message, field: "rules.2.threshold"}) and the message is shown beside it.
import { api, clearSession, el, getToken, goToLogin, HttpError } from './common.js';

const $ = (id) => document.getElementById(id);
const KINDS = ['cpu', 'memory', 'stopped', 'unhealthy', 'oom', 'restart_loop', 'agent_offline', 'host_disk', 'cpu_spike', 'memory_spike', 'watched'];
const state = { me: null, doc: null, rules: [] };
const isAdmin = () => state.me && state.me.role === 'admin';
const setStatus = (t) => { $('status').textContent = t || ''; };

function input(field, attrs) {
  const errId = `err-${field.replace(/\./g, '-')}`;
  return [el('input', { ...attrs, 'data-field': field, 'aria-describedby': errId }), el('span', { id: errId, class: 'field-error', 'data-for': field, hidden: true })];
}
function select(field, options, value, label) {
  const errId = `err-${field.replace(/\./g, '-')}`;
  const s = el('select', { 'data-field': field, 'aria-describedby': errId, 'aria-label': label }, options.map((o) => el('option', { value: o, text: o || '—' })));
  s.value = value ?? '';
  return [s, el('span', { id: errId, class: 'field-error', 'data-for': field, hidden: true })];
}

function renderRules() {
  const admin = isAdmin();
  $('rule-list').replaceChildren(...state.rules.map((r, i) => {
    const f = (k) => `rules.${i}.${k}`;
    const name = r.id;
    if (!admin) {
      return el('tr', { class: 'rule-row', dataset: { rule: r.id } }, [
        el('td', { text: r.id }), el('td', { text: r.kind }), el('td', {}, [el('span', { class: `sev sev-${r.severity}`, text: r.severity })]),
        el('td', { text: r.for ?? '' }), el('td', { text: String(r.threshold ?? '') }), el('td', { text: r.window ?? '' }),
        el('td', { text: r.enabled ? 'yes' : 'no' }), el('td', { text: r.action || '' }),
      ]);
    }
    return el('tr', { class: 'rule-row', dataset: { rule: r.id } }, [
      el('td', {}, r.isNew ? input(f('id'), { value: r.id, 'aria-label': 'Rule id', class: 'in-id' }) : [el('span', { text: r.id })]),
      el('td', {}, r.isNew ? select(f('kind'), KINDS, r.kind, `Kind of ${name}`) : [el('span', { text: r.kind })]),
      el('td', {}, select(f('severity'), ['warning', 'critical'], r.severity, `Severity of ${name}`)),
      el('td', {}, input(f('for'), { value: r.for ?? '', size: '6', 'aria-label': `For (duration) of ${name}` })),
      el('td', {}, input(f('threshold'), { value: String(r.threshold ?? ''), size: '6', inputmode: 'decimal', 'aria-label': `Threshold of ${name}` })),
      el('td', {}, input(f('window'), { value: r.window ?? '', size: '6', 'aria-label': `Window of ${name}` })),
      el('td', {}, [el('input', { type: 'checkbox', 'data-field': f('enabled'), 'aria-label': `${name} enabled`, checked: r.enabled !== false })]),
      el('td', {}, select(f('action'), ['', 'restart'], r.action || '', `Action of ${name}`)),
    ]);
  }));
}

/** The document from the editor. Numbers stay as typed when they do not parse, so the server names the field. */
function readDoc() {
  const rules = state.rules.map((r, i) => {
    const v = (k) => { const e = document.querySelector(`[data-field="rules.${i}.${k}"]`); return e ? e.value.trim() : undefined; };
    const out = { id: r.isNew ? v('id') : r.id };
    if (r.isNew) out.kind = v('kind'); else out.kind = r.kind;
    out.severity = v('severity');
    if (v('for')) out.for = v('for');
    const th = v('threshold');
    if (th !== '') out.threshold = Number.isFinite(Number(th)) ? Number(th) : th;
    if (v('window')) out.window = v('window');
    out.enabled = document.querySelector(`[data-field="rules.${i}.enabled"]`).checked;
    if (v('action')) out.action = v('action');
    return out;
  });
  const json = (id) => {
    const text = $(id).value.trim();
    if (!text) return [];
    try { return JSON.parse(text); } catch (e) { throw Object.assign(new Error(`not valid JSON: ${e.message}`), { field: id }); }
  };
  return { rules, overrides: json('overrides'), watch: json('watch') };
}

function clearErrors() {
  for (const e of document.querySelectorAll('#rules-form .field-error')) { e.textContent = ''; e.hidden = true; }
  for (const e of document.querySelectorAll('#rules-form [aria-invalid]')) e.removeAttribute('aria-invalid');
  $('form-error').hidden = true;
}

/** Beside the input the field names, or the nearest one above it (overrides.0.autoheal -> the overrides box). */
function showFieldError(field, message) {
  let f = field || '';
  let target = null;
  while (f && !(target = document.querySelector(`#rules-form [data-field="${CSS.escape(f)}"]`))) f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '';
  if (!target) { $('form-error').textContent = message; $('form-error').hidden = false; return; }
  const slot = document.querySelector(`#rules-form .field-error[data-for="${CSS.escape(f)}"]`);
  const text = f === field && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  if (slot) { slot.textContent = text; slot.hidden = false; } else { $('form-error').textContent = message; $('form-error').hidden = false; }
  target.setAttribute('aria-invalid', 'true');
  target.focus();
}

async function load() {
  state.doc = await api('/api/alert-rules');
  state.rules = (state.doc.rules || []).map((r) => ({ ...r }));
  renderRules();
  if (isAdmin()) {
    $('overrides').value = JSON.stringify(state.doc.overrides || [], null, 2);
    $('watch').value = JSON.stringify(state.doc.watch || [], null, 2);
  }
  document.body.dataset.loaded = 'true';
}

$('rules-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  let doc;
  try { doc = readDoc(); } catch (e) { showFieldError(e.field, e.message); return; }
  $('save').disabled = true;
  try {
    await api('/api/alert-rules', { method: 'PUT', body: doc });
    setStatus(`Saved: ${doc.rules.length} rules.`);
    await load();
  } catch (e) {
    if (e instanceof HttpError && e.status === 400 && e.body) showFieldError(e.body.field, e.body.message);
    else { $('form-error').textContent = `Could not save: ${e.message}`; $('form-error').hidden = false; }
  } finally {
    $('save').disabled = false;
  }
});
$('add-rule').addEventListener('click', () => {
  const id = $('new-id').value.trim();
  state.rules.push({ id, kind: $('new-kind').value, severity: 'warning', threshold: '', enabled: true, isNew: true });
  $('new-id').value = '';
  // Keep what was typed in the other rows.
  const typed = readDocSafe();
  renderRules();
  if (typed) restore(typed);
});
const readDocSafe = () => { try { return readDoc(); } catch { return null; } };
function restore(doc) {
  doc.rules.forEach((r, i) => {
    for (const k of ['severity', 'for', 'threshold', 'window', 'action']) {
      const e = document.querySelector(`[data-field="rules.${i}.${k}"]`);
      if (e && r[k] !== undefined) e.value = String(r[k]);
    }
  });
}
$('revert').addEventListener('click', () => { clearErrors(); load().catch(showLoadError); });
$('logout').addEventListener('click', () => { clearSession(); location.assign('/'); });

function showLoadError(e) {
  if (e instanceof HttpError && e.status === 401) return;
  setStatus(e instanceof HttpError && e.status === 404 ? 'Alerting is not enabled on this server.' : `Could not load: ${e.message}`);
  document.body.dataset.loaded = 'error';
}

async function start() {
  try { state.me = await api('/api/auth/me'); } catch (e) { showLoadError(e); return; }
  $('whoami').textContent = `${state.me.username} (${state.me.role})`;
  $('viewer-note').hidden = isAdmin();
  $('admin-extra').hidden = !isAdmin();
  $('new-kind').replaceChildren(...KINDS.map((k) => el('option', { value: k, text: k })));
  await load().catch(showLoadError);
}

if (!getToken()) goToLogin();
else start();
