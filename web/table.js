// The dense container table of the live page: one row per container, sortable by any column,
// grouped by host or compose project (collapsible), filtered. Rows are built once and their
// cells updated in place, only for containers that changed since the last frame; the caller
// batches /ws messages and calls render() at most once per animation frame.
import { el, fmtBytes, fmtPct, fmtRate } from './common.js';

const PROJECT = 'com.docker.compose.project';
const STATE_ORDER = { running: 0, restarting: 1, paused: 2, created: 3, exited: 4, dead: 5, removed: 6 };
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const cmpNum = (a, b) => (a === null ? (b === null ? 0 : 1) : b === null ? -1 : a - b);
// The same order as localeCompare, without its per-call set-up (a 500-row sort is ~4,500 compares a frame).
const collator = new Intl.Collator();
const cmpStr = (a, b) => collator.compare(a || '', b || '');
const projectOf = (c) => (c.labels && c.labels[PROJECT]) || '';

export function fmtUptime(startedAt, state, now = Date.now()) {
  const t = typeof startedAt === 'number' ? startedAt : Date.parse(startedAt || '');
  if (state !== 'running' || !Number.isFinite(t) || t <= 0) return '–';
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

/** Columns: key, header, sort value (ascending), cell text. */
const COLUMNS = [
  { key: 'state', label: 'State', value: (e) => (STATE_ORDER[e.data.state] ?? 9) * 10 + (e.data.health === 'unhealthy' ? 0 : 1), cmp: cmpNum },
  { key: 'name', label: 'Name', value: (e) => e.data.name || e.data.id, cmp: cmpStr },
  { key: 'host', label: 'Host', value: (e) => e.data.host, cmp: cmpStr },
  { key: 'project', label: 'Project', value: (e) => projectOf(e.data), cmp: cmpStr },
  { key: 'image', label: 'Image', value: (e) => e.data.image, cmp: cmpStr },
  { key: 'cpu', label: 'CPU', value: (e) => num(e.data.stats && e.data.stats.cpu_percent), cmp: cmpNum, numeric: true },
  { key: 'spark', label: 'CPU 60 s', sortable: false },
  { key: 'mem', label: 'Memory', value: (e) => num(e.data.stats && e.data.stats.mem_usage_bytes), cmp: cmpNum, numeric: true },
  { key: 'memPct', label: 'Mem %', value: (e) => memPct(e.data.stats), cmp: cmpNum, numeric: true },
  { key: 'net', label: 'Net rx / tx', value: (e) => sum(e.rates.rx, e.rates.tx), cmp: cmpNum, numeric: true },
  { key: 'blk', label: 'Block r / w', value: (e) => sum(e.rates.rd, e.rates.wr), cmp: cmpNum, numeric: true },
  { key: 'pids', label: 'PIDs', value: (e) => num(e.data.stats && e.data.stats.pids), cmp: cmpNum, numeric: true },
  { key: 'restarts', label: 'Restarts', value: (e) => num(e.data.restart_count), cmp: cmpNum, numeric: true },
  { key: 'uptime', label: 'Uptime', value: (e) => startedMs(e.data), cmp: (a, b) => cmpNum(b, a), numeric: true },
];
const sum = (a, b) => (a === null || a === undefined || b === null || b === undefined ? null : a + b);
const startedMs = (c) => {
  if (c.state !== 'running') return null;
  const t = Date.parse(c.started_at || '');
  return Number.isFinite(t) ? t : null;
};
function memPct(s) {
  if (!s) return null;
  if (s.mem_limit_bytes && s.mem_limit_bytes < 2 ** 50 && typeof s.mem_usage_bytes === 'number') return (100 * s.mem_usage_bytes) / s.mem_limit_bytes;
  return null;
}

const SPARK_W = 72;
const SPARK_H = 18;

/**
 * opts.root: the element to fill; opts.getEntries(): the live entries
 * ({ data, rates, series, dirty }); opts.onSortChange(sort) to remember the choice.
 */
export function createContainerTable({ root, getEntries, initialSort, onSortChange }) {
  const state = {
    sort: initialSort && COLUMNS.some((c) => c.key === initialSort.key) ? initialSort : { key: 'name', dir: 1 },
    group: 'none',
    collapsed: new Set(),
    sparkColor: '#4ea1ff',
  };
  // Explicit roles: on wide screens the rows are laid out as flex lines (style.css), not as table rows.
  const headRow = el('tr', { role: 'row' });
  const heads = new Map();
  for (const col of COLUMNS) {
    const th = el('th', { scope: 'col', role: 'columnheader', class: `col-${col.key}${col.numeric ? ' num' : ''}`, dataset: { col: col.key } });
    if (col.sortable === false) th.textContent = col.label;
    else {
      const btn = el('button', { type: 'button', class: 'sort-btn', text: col.label, dataset: { sort: col.key } });
      btn.addEventListener('click', () => {
        state.sort = state.sort.key === col.key ? { key: col.key, dir: -state.sort.dir } : { key: col.key, dir: col.numeric ? -1 : 1 };
        onSortChange?.(state.sort);
        api.invalidate();
      });
      th.append(btn);
    }
    heads.set(col.key, th);
    headRow.append(th);
  }
  const tbody = el('tbody', { id: 'ctable-body', role: 'rowgroup' });
  const table = el('table', { class: 'table ctable', id: 'ctable', role: 'table', 'aria-label': 'Containers' }, [
    el('caption', { class: 'visually-hidden', text: 'Containers. Column headers sort; group headers collapse.' }),
    el('thead', { role: 'rowgroup' }, [headRow]), tbody,
  ]);
  root.replaceChildren(el('div', { class: 'table-wrap ctable-wrap' }, [table]));

  const groupRows = new Map(); // group key -> { row, btn, count }
  let orderDirty = true;
  // Sparklines are drawn only for rows on or near the screen (canvas work is the costly part of
  // a row); one that comes near is drawn then. The text of every row stays current (screen
  // readers, find in page); on wide screens a row off screen costs no style, layout or paint
  // anyway (content-visibility in style.css).
  const near = new WeakMap(); // tr -> intersecting
  const io = typeof IntersectionObserver === 'function' ? new IntersectionObserver((items) => {
    for (const it of items) {
      near.set(it.target, it.isIntersecting);
      const e = it.target.dwEntry;
      if (it.isIntersecting && e && e.row.sparkStale) { e.row.sparkStale = false; drawSpark(e.row.canvas, e.series.cpu, state.sparkColor); }
    }
  }, { rootMargin: '300px 0px' }) : null;

  function groupKey(e) {
    if (state.group === 'host') return e.data.host || '(no host)';
    if (state.group === 'project') return projectOf(e.data) || '(no project)';
    return '';
  }

  function groupRow(key, label) {
    let g = groupRows.get(key);
    if (!g) {
      const btn = el('button', { type: 'button', class: 'group-toggle', 'aria-expanded': 'true', dataset: { group: key } });
      const title = el('span', { class: 'group-name', text: label });
      const count = el('span', { class: 'group-count muted' });
      btn.append(el('span', { class: 'chev', 'aria-hidden': 'true' }), title, ' ', count);
      btn.addEventListener('click', () => {
        if (state.collapsed.has(key)) state.collapsed.delete(key); else state.collapsed.add(key);
        api.invalidate();
      });
      const row = el('tr', { class: 'group-row', role: 'row', dataset: { group: key } }, [el('th', { colspan: String(COLUMNS.length), scope: 'rowgroup', role: 'rowheader' }, [btn])]);
      g = { row, btn, count };
      groupRows.set(key, g);
    }
    return g;
  }

  function buildRow(e) {
    const c = e.data;
    const cells = {};
    const tr = el('tr', { class: 'crow', role: 'row', dataset: { containerId: c.id } });
    for (const col of COLUMNS) {
      const td = el('td', { role: 'cell', class: `col-${col.key}${col.numeric ? ' num' : ''}` });
      cells[col.key] = td;
      tr.append(td);
    }
    cells.state.append(el('span', { class: 'state' }), el('span', { class: 'health' }));
    const link = el('a', { class: 'name', href: `/dashboard.html?container=${encodeURIComponent(c.id)}` });
    cells.name.append(link);
    const canvas = el('canvas', { class: 'tspark', width: String(SPARK_W), height: String(SPARK_H), 'aria-hidden': 'true' });
    cells.spark.append(canvas);
    tr.dwEntry = e;
    io?.observe(tr);
    e.row = { tr, cells, link, canvas, text: {}, sparkStale: false };
  }

  const setText = (r, key, node, text) => {
    if (r.text[key] === text) return;
    r.text[key] = text;
    node.textContent = text;
  };

  function paintRow(e, now) {
    const c = e.data;
    const r = e.row;
    const s = c.stats || {};
    const st = r.cells.state;
    const stState = c.state || 'unknown';
    if (r.text.stateCls !== stState) {
      r.text.stateCls = stState;
      st.firstChild.className = `state state-${stState.replace(/[^a-z]/g, '')}`;
      r.tr.dataset.state = stState;
    }
    setText(r, 'state', st.firstChild, stState);
    const health = c.health && c.health !== 'none' ? c.health : '';
    if (r.text.healthCls !== health) { r.text.healthCls = health; st.lastChild.className = `health health-${health.replace(/[^a-z]/g, '')}`; }
    setText(r, 'health', st.lastChild, health);
    if (r.text.name !== (c.name || c.id.slice(0, 12))) r.link.title = `${c.name || c.id} - history`;
    setText(r, 'name', r.link, c.name || c.id.slice(0, 12));
    setText(r, 'host', r.cells.host, c.host || '');
    setText(r, 'project', r.cells.project, projectOf(c) || '–');
    setText(r, 'image', r.cells.image, c.image || '');
    setText(r, 'cpu', r.cells.cpu, fmtPct(s.cpu_percent));
    setText(r, 'mem', r.cells.mem, `${fmtBytes(s.mem_usage_bytes)}${s.mem_limit_bytes && s.mem_limit_bytes < 2 ** 50 ? ` / ${fmtBytes(s.mem_limit_bytes)}` : ''}`);
    setText(r, 'memPct', r.cells.memPct, fmtPct(memPct(s)));
    setText(r, 'net', r.cells.net, `${fmtRate(e.rates.rx)} / ${fmtRate(e.rates.tx)}`);
    setText(r, 'blk', r.cells.blk, `${fmtRate(e.rates.rd)} / ${fmtRate(e.rates.wr)}`);
    setText(r, 'pids', r.cells.pids, s.pids === undefined || s.pids === null ? '–' : String(s.pids));
    setText(r, 'restarts', r.cells.restarts, c.restart_count === undefined || c.restart_count === null ? '–' : String(c.restart_count));
    setText(r, 'uptime', r.cells.uptime, fmtUptime(c.started_at, c.state, now));
    if (!io || near.get(r.tr)) { drawSpark(r.canvas, e.series.cpu, state.sparkColor); r.sparkStale = false; } else r.sparkStale = true;
  }

  const api = {
    columns: COLUMNS.map((c) => c.key),
    get sort() { return { ...state.sort }; },
    setGroup(g) { state.group = g; api.invalidate(); },
    setSparkColor(color) { state.sparkColor = color; for (const e of getEntries()) e.tablePainted = false; orderDirty = true; },
    collapsed: state.collapsed,
    /** Next render re-sorts and re-checks every row (sort, filter, grouping changed). */
    invalidate() { orderDirty = true; api.onInvalidate?.(); },
    onInvalidate: null,
    /**
     * shown(e) = passes the filters. Re-sorts only when something that can move a row changed
     * (a dirty entry, or invalidate()), and moves only rows that are out of place.
     */
    render(shown, { force = false } = {}) {
      const now = Date.now();
      const all = getEntries();
      let anyDirty = force || orderDirty;
      for (const e of all) if (e.tableDirty || !e.tablePainted) { anyDirty = true; break; }
      if (!anyDirty) return { shown: api.lastShown ?? 0, painted: 0 };
      const col = COLUMNS.find((c) => c.key === state.sort.key) || COLUMNS[1];
      const dir = state.sort.dir;
      const list = all.filter(shown);
      const byName = (a, b) => cmpStr(a.data.name, b.data.name) || cmpStr(a.data.id, b.data.id);
      list.sort((a, b) => {
        if (state.group !== 'none') {
          const g = cmpStr(groupKey(a), groupKey(b));
          if (g) return g;
        }
        const d = col.cmp(col.value(a), col.value(b));
        // Empty values last whichever the direction.
        if (col.cmp === cmpNum && (col.value(a) === null) !== (col.value(b) === null)) return col.value(a) === null ? 1 : -1;
        return d * dir || byName(a, b);
      });
      for (const [key, th] of heads) {
        const sort = key === state.sort.key ? (dir > 0 ? 'ascending' : 'descending') : 'none';
        if (th.getAttribute('aria-sort') !== sort) th.setAttribute('aria-sort', sort);
      }
      // The rows in order, with group rows before each group; collapsed groups show only their header.
      const want = [];
      const counts = new Map();
      if (state.group !== 'none') for (const e of list) { const k = groupKey(e); counts.set(k, (counts.get(k) || 0) + 1); }
      let lastGroup = null;
      let painted = 0;
      for (const e of list) {
        if (state.group !== 'none') {
          const k = groupKey(e);
          if (k !== lastGroup) {
            lastGroup = k;
            const g = groupRow(k, k);
            const collapsed = state.collapsed.has(k);
            if (g.btn.getAttribute('aria-expanded') !== String(!collapsed)) g.btn.setAttribute('aria-expanded', String(!collapsed));
            const n = `${counts.get(k)} container${counts.get(k) === 1 ? '' : 's'}`;
            if (g.count.textContent !== n) g.count.textContent = n;
            want.push(g.row);
          }
          if (state.collapsed.has(k)) continue;
        }
        if (!e.row) buildRow(e);
        if (e.tableDirty || !e.tablePainted) { paintRow(e, now); e.tableDirty = false; e.tablePainted = true; painted++; }
        want.push(e.row.tr);
      }
      // Keep focus where it was: moving a focused row's node would drop it.
      const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement : null;
      let node = tbody.firstChild;
      for (const tr of want) {
        if (node === tr) { node = node.nextSibling; continue; }
        tbody.insertBefore(tr, node);
      }
      while (node) { const next = node.nextSibling; node.remove(); node = next; }
      if (focused && document.activeElement !== focused && focused.isConnected) focused.focus({ preventScroll: true });
      orderDirty = false;
      api.lastShown = list.length;
      return { shown: list.length, painted };
    },
    lastShown: 0,
    element: table,
  };
  return api;
}

/** A small line on a fixed-size canvas: no layout reads, so painting 500 does not thrash. */
function drawSpark(canvas, values, color) {
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, SPARK_W, SPARK_H);
  let n = 0;
  for (const v of values) if (v !== null && Number.isFinite(v)) n++;
  if (canvas.dataset.points !== String(n)) canvas.dataset.points = String(n);
  if (n < 2) return;
  let top = 1;
  for (const v of values) if (v !== null && v > top) top = v;
  top = Math.max(top, 10);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  const len = values.length;
  let started = false;
  for (let i = 0; i < len; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) continue;
    const x = len === 1 ? SPARK_W : 1 + (i / (len - 1)) * (SPARK_W - 2);
    const y = SPARK_H - 1 - (v / top) * (SPARK_H - 2);
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  }
  ctx.stroke();
}
