// The `dockwatch top` screen, drawn with Ink (React for terminals): Ink owns the terminal
// (raw mode, cursor, redraws, resize); this file only says what is on screen and what the
// keys do. Written with createElement so the build needs no JSX settings.
import { createElement as h, useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { handleKey, initialUiState, selectedIndex, type UiState } from './keys.js';
import {
  SORT_LABEL, formatBytes, formatPercent, formatRate, formatTable, sparkline, visibleRows,
  type Row, type TopModel,
} from './model.js';

export type ConnState =
  | { kind: 'connecting'; sinceMs: number }
  | { kind: 'live' }
  | { kind: 'reconnecting'; reason: string };

/** What the screen reads; runTop feeds it and calls `changed()` after each update. */
export interface TopStore {
  model: TopModel;
  conn: ConnState;
  listen(fn: () => void): () => void;
  changed(): void;
}

export function createTopStore(model: TopModel): TopStore {
  const listeners = new Set<() => void>();
  return {
    model,
    conn: { kind: 'connecting', sinceMs: Date.now() },
    listen(fn) { listeners.add(fn); return () => { listeners.delete(fn); }; },
    changed() { for (const fn of listeners) fn(); },
  };
}

export const HELP_LIST = '↑/↓ move  Enter detail  c cpu  m mem  n net  a name  / filter  Esc clear  q quit';
export const HELP_DETAIL = 'Esc/Backspace back  q quit';

interface TopAppProps {
  store: TopStore;
  server: string;
}

// Redraws are batched: many hosts each sending a batch a second must not mean many redraws.
const REDRAW_MS = 200;

function useStoreVersion(store: TopStore): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let timer: NodeJS.Timeout | undefined;
    const off = store.listen(() => {
      if (timer) return;
      timer = setTimeout(() => { timer = undefined; setVersion((v) => v + 1); }, REDRAW_MS);
    });
    // Keeps "connecting… 3s" ticking even when nothing arrives.
    const tick = setInterval(() => setVersion((v) => v + 1), 1000);
    return () => { off(); clearInterval(tick); if (timer) clearTimeout(timer); };
  }, [store]);
  return version;
}

function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => { stdout.off('resize', onResize); };
  }, [stdout]);
  return size;
}

function statusText(store: TopStore, server: string, shown: number, filter: string): string | null {
  const conn = store.conn;
  if (conn.kind === 'connecting') {
    const s = Math.floor((Date.now() - conn.sinceMs) / 1000);
    return `connecting to ${server}…${s >= 3 ? ` (${s}s, no answer yet)` : ''}`;
  }
  // While reconnecting the last rows stay on screen; the title says what happened.
  if (conn.kind === 'reconnecting' && store.model.rows.size === 0) return `connection lost (${conn.reason}); reconnecting to ${server}…`;
  if (store.model.batches === 0) return 'connected; waiting for data…';
  if (store.model.rows.size === 0) return 'waiting for data… (no containers reported yet)';
  if (shown === 0) return `no container matches "${filter}"`;
  return null;
}

export function TopApp({ store, server }: TopAppProps): ReactElement {
  useStoreVersion(store);
  const { exit } = useApp();
  const { columns, rows: height } = useTerminalSize();
  // UI state lives in a ref so several key events in one tick each see the previous one's result.
  const ui = useRef<UiState>(initialUiState());
  const [, rerender] = useState(0);
  // Keep the list short enough that Ink never has to clear the whole screen.
  const bodyHeight = Math.max(1, height - 4);
  const rowsFor = (s: UiState) => visibleRows(store.model, s.sort, s.filter);

  useInput((input, key) => {
    const next = handleKey(ui.current, input, key, rowsFor, bodyHeight);
    if (next === ui.current) return;
    ui.current = next;
    if (next.quit) exit();
    else rerender((n) => n + 1);
  });

  const { sort, filter, editing, detailKey, detailLast } = ui.current;
  const rows = rowsFor(ui.current);
  const selected = selectedIndex(ui.current, rows);

  if (detailKey !== null) {
    const live = store.model.rows.get(detailKey);
    return h(DetailView, { row: live ?? detailLast, gone: !live, columns, height, server, store });
  }

  const table = formatTable(rows, columns);
  // The window scrolls just enough to keep the selected row on screen.
  const start = Math.max(0, Math.min(selected - bodyHeight + 1, rows.length - bodyHeight));
  const windowRows = table.lines.slice(start, start + bodyHeight);
  const status = statusText(store, server, rows.length, filter);
  const title = `dockwatch top  ${server}  ${store.model.hosts.size} host(s)  ${rows.length}/${store.model.rows.size} containers`
    + `  sort: ${SORT_LABEL[sort]}${filter ? `  filter: ${filter}` : ''}`
    + (store.conn.kind === 'reconnecting' ? `  [connection lost (${store.conn.reason}); reconnecting…]` : '');

  return h(Box, { flexDirection: 'column', width: columns },
    h(Text, { bold: true, wrap: 'truncate' }, title),
    h(Text, { inverse: true, wrap: 'truncate' }, table.header.padEnd(columns)),
    ...(status !== null
      ? [h(Text, { key: 'status', color: store.conn.kind === 'live' ? undefined : 'yellow', wrap: 'truncate' }, status)]
      : windowRows.map((line, i) => h(Text, {
        key: rows[start + i]!.key,
        inverse: start + i === selected,
        wrap: 'truncate',
      }, line))),
    // The screen always fills the terminal's height, so a resize always redraws all of it.
    ...padding(bodyHeight - (status !== null ? 1 : windowRows.length)),
    h(Text, { dimColor: !editing, wrap: 'truncate' }, editing ? `filter: /${filter}█  (Enter keep, Esc clear)` : HELP_LIST),
  );
}

function padding(n: number): ReactElement[] {
  return Array.from({ length: Math.max(0, n) }, (_, i) => h(Text, { key: `pad${i}` }, ' '));
}

interface DetailProps {
  row: Row | null;
  gone: boolean;
  columns: number;
  height: number;
  server: string;
  store: TopStore;
}

function DetailView({ row, gone, columns, height, server, store }: DetailProps): ReactElement {
  if (!row) return h(Text, null, 'container gone; Esc to go back');
  const graphWidth = Math.max(10, Math.min(60, columns - 40));
  const cpuMax = Math.max(100, ...row.history.cpu);
  const line = (label: string, value: string, graph: string) =>
    h(Text, { wrap: 'truncate' }, `${label.padEnd(8)}${value.padEnd(30)}${graph}`);
  const conn = store.conn.kind === 'live' ? '' : `  [${store.conn.kind}]`;
  return h(Box, { flexDirection: 'column', width: columns },
    h(Text, { bold: true, wrap: 'truncate' },
      `dockwatch top › ${row.name} (${row.id.slice(0, 12)}) on ${row.host}  ${server}${gone ? '  (gone)' : ''}${conn}`),
    h(Text, { wrap: 'truncate' },
      `image ${row.image}  state ${row.state}  health ${row.health}  restarts ${row.restartCount}  pids ${row.pids}`
      + (row.startedAtMs > 0 ? `  started ${new Date(row.startedAtMs).toISOString()}` : '')),
    line('CPU', `${formatPercent(row.cpuPercent)} of ${row.onlineCpus || '?'} cpu(s)`, sparkline(row.history.cpu, graphWidth, cpuMax)),
    line('MEM', `${formatBytes(row.memUsage)} / ${formatBytes(row.memLimit)} (${formatPercent(row.memPercent)})`,
      sparkline(row.history.mem, graphWidth, 100)),
    line('NET', `rx ${formatRate(row.netRxRate)} tx ${formatRate(row.netTxRate)}`, sparkline(row.history.net, graphWidth)),
    line('BLOCK', `read ${formatRate(row.blkReadRate)} write ${formatRate(row.blkWriteRate)}`, ''),
    h(Text, { dimColor: true, wrap: 'truncate' }, `graphs: last ${row.history.cpu.length} samples  ·  ${HELP_DETAIL}`),
    ...padding(height - 1 - 7),
  );
}
