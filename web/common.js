// Shared by both pages: the token, API calls, the live socket with reconnect, rates from
// cumulative counters, formatting and sparklines. Plain ES module, no build step.

const TOKEN_KEY = 'dockwatch.token';
const EXPIRES_KEY = 'dockwatch.expires_at';
const FLASH_KEY = 'dockwatch.flash';

export function getToken() {
  const token = localStorage.getItem(TOKEN_KEY);
  const exp = Date.parse(localStorage.getItem(EXPIRES_KEY) || '');
  if (!token) return null;
  if (Number.isFinite(exp) && exp <= Date.now()) {
    sessionExpired();
    return null;
  }
  return token;
}

export function setSession(token, expiresAt) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(EXPIRES_KEY, expiresAt || '');
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(EXPIRES_KEY);
}

/** A one-shot message for the login form ("session expired"). */
export function takeFlash() {
  const m = sessionStorage.getItem(FLASH_KEY);
  sessionStorage.removeItem(FLASH_KEY);
  return m;
}

let expiredHandler = null;
/** The page decides what "back to the login" means; the default is going to /. */
export function onSessionExpired(fn) { expiredHandler = fn; }

export function sessionExpired() {
  clearSession();
  sessionStorage.setItem(FLASH_KEY, 'Your session expired. Please log in again.');
  if (expiredHandler) expiredHandler();
  else goToLogin();
}

/** To the login, which comes back here (path and query) once logged in. */
export function goToLogin() {
  const here = `${location.pathname}${location.search}${location.hash}`;
  location.assign(here === '/' || here === '/index.html' ? '/' : `/?next=${encodeURIComponent(here)}`);
}

/** Where to go after login: ?next= when it is a path on this site, else null. */
export function nextAfterLogin() {
  const next = new URLSearchParams(location.search).get('next');
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return null;
  try {
    const u = new URL(next, location.origin);
    return u.origin === location.origin ? `${u.pathname}${u.search}${u.hash}` : null;
  } catch { return null; }
}

// ---------- theme: follows prefers-color-scheme unless the switch chose one ----------

const THEME_KEY = 'dockwatch.theme';
const themeListeners = new Set();
const systemDark = () => !window.matchMedia || window.matchMedia('(prefers-color-scheme: dark)').matches;

/** 'dark' or 'light', as shown now. */
export function currentTheme() {
  const chosen = localStorage.getItem(THEME_KEY);
  return chosen === 'light' || chosen === 'dark' ? chosen : (systemDark() ? 'dark' : 'light');
}

export function onThemeChange(fn) { themeListeners.add(fn); }

function applyTheme() {
  const t = currentTheme();
  document.documentElement.dataset.theme = t;
  const btn = document.getElementById('theme-toggle');
  if (btn) {
    btn.setAttribute('aria-pressed', String(t === 'light'));
    btn.textContent = t === 'dark' ? '☀ Light' : '☾ Dark';
    btn.title = `Switch to the ${t === 'dark' ? 'light' : 'dark'} theme`;
  }
  for (const fn of themeListeners) fn(t);
}

/** Sets the theme at once (no flash) and adds the switch to the page's top bar. */
function initTheme() {
  applyTheme();
  if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
  const add = () => {
    const bar = document.querySelector('.topbar');
    if (!bar || document.getElementById('theme-toggle')) return;
    const btn = el('button', { id: 'theme-toggle', type: 'button', class: 'link theme-toggle', 'aria-label': 'Light theme' });
    btn.addEventListener('click', () => {
      const next = currentTheme() === 'dark' ? 'light' : 'dark';
      // Back to "follow the system" when the choice equals it.
      if ((next === 'dark') === systemDark()) localStorage.removeItem(THEME_KEY); else localStorage.setItem(THEME_KEY, next);
      applyTheme();
    });
    bar.append(btn);
    applyTheme();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', add); else add();
}
// In a page only: the unit tests import this module's pure parts in Node.
if (typeof document !== 'undefined') initTheme();

export class HttpError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** GET/POST JSON with the bearer token. A 401 ends the session. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401 && token) sessionExpired();
  if (!res.ok) throw new HttpError(res.status, data);
  return data;
}

export async function login(username, password) {
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) throw new HttpError(res.status, data);
  setSession(data.token, data.expires_at);
  return data;
}

/**
 * The live socket. The token travels in Sec-WebSocket-Protocol (['dockwatch', token]), not in
 * the URL, so it stays out of access logs. Reconnects with exponential backoff and jitter;
 * close code 4401 means the session is over.
 */
export function connectLive({ onMessage, onStatus, query = '' }) {
  let ws = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;

  const open = () => {
    const token = getToken();
    if (!token) { sessionExpired(); return; }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    onStatus('connecting', attempt);
    ws = new WebSocket(`${proto}//${location.host}/ws${query}`, ['dockwatch', token]);
    ws.addEventListener('open', () => { attempt = 0; onStatus('live', 0); });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      onMessage(msg);
    });
    ws.addEventListener('close', (ev) => {
      ws = null;
      if (stopped) return;
      if (ev.code === 4401) { onStatus('expired', 0); sessionExpired(); return; }
      if (ev.code === 4403) { onStatus('forbidden', 0); return; }
      attempt++;
      // 1 s, 2 s, 4 s ... capped at 30 s, with up to 50% jitter so replicas' clients spread out.
      const base = Math.min(30_000, 1000 * 2 ** (attempt - 1));
      const delay = base / 2 + Math.random() * (base / 2);
      onStatus('down', attempt, delay);
      timer = setTimeout(open, delay);
    });
  };
  open();
  return {
    close() { stopped = true; clearTimeout(timer); if (ws) ws.close(1000); },
    get socket() { return ws; },
  };
}

/**
 * Rates from cumulative counters: per key, (value - previous) / seconds between the samples.
 * A counter that went down (restart, reset) gives null, not a negative rate.
 */
export function rateTracker() {
  const last = new Map();
  return function rates(id, ts, counters) {
    const prev = last.get(id);
    last.set(id, { ts, counters });
    const out = {};
    for (const k of Object.keys(counters)) out[k] = null;
    if (!prev || !(ts > prev.ts)) return out;
    const dt = (ts - prev.ts) / 1000;
    for (const [k, v] of Object.entries(counters)) {
      const p = prev.counters[k];
      if (typeof v === 'number' && typeof p === 'number' && v >= p) out[k] = (v - p) / dt;
    }
    return out;
  };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return `${(n < 0 ? -v : v).toFixed(v >= 100 || i === 0 ? 0 : 1)} ${UNITS[i]}`;
}
export const fmtRate = (n) => (n === null || n === undefined ? '–' : `${fmtBytes(n)}/s`);
export const fmtPct = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${n.toFixed(1)}%`);

/** Element helper: el('div', {class: 'x', dataset: {id}}, [children or text]). Text is never parsed as HTML. */
export function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of [].concat(children)) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

/** Draws values (oldest first) as a line on a canvas sized by CSS. */
export function drawSparkline(canvas, values, { max } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  const pts = values.filter((v) => v !== null && Number.isFinite(v));
  canvas.dataset.points = String(pts.length);
  if (pts.length < 2) return;
  const top = Math.max(max ?? 0, ...pts, 1e-9);
  const color = getComputedStyle(canvas).color || '#3b82f6';
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5 * dpr;
  ctx.beginPath();
  const n = values.length;
  let started = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const x = n === 1 ? w : (i / (n - 1)) * (w - 2 * dpr) + dpr;
    const y = h - dpr - (v / top) * (h - 2 * dpr);
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  });
  ctx.stroke();
}

/** Normalises the history API's answer: {step_ms, points:[{ts, <metric>...}]} in either case style. */
export function normaliseHistory(body) {
  const raw = Array.isArray(body) ? body : (body && (body.points || body.data)) || [];
  const stepMs = body && (body.step_ms ?? body.stepMs ?? null);
  const points = raw.map((p) => {
    const values = p.values && typeof p.values === 'object' ? p.values : p;
    const get = (snake) => {
      const camel = snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
      const v = values[snake] ?? values[camel];
      return typeof v === 'number' ? v : null;
    };
    return { ts: p.ts ?? p.timestampMs ?? p.timestamp_ms ?? p.time, get };
  }).filter((p) => typeof p.ts === 'number' || typeof p.ts === 'string')
    .map((p) => ({ ...p, ts: typeof p.ts === 'number' ? p.ts : Date.parse(p.ts) }));
  return { stepMs, points };
}
