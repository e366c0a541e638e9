// What each key does in `dockwatch top`, as a pure state transition so it is tested without a
// terminal. Several characters can arrive in one read (typing fast, a paste, tmux send-keys):
// plain text is handled one character at a time.
import { SORT_KEYS, type Row, type SortKey } from './model.js';

export interface UiState {
  sort: SortKey;
  filter: string;
  /** Typing into the filter after "/". */
  editing: boolean;
  selectedKey: string | null;
  /** The container shown in the detail view, or null for the list. */
  detailKey: string | null;
  /** Last known row of the detail container, shown (marked gone) if it disappears. */
  detailLast: Row | null;
  quit: boolean;
}

/** The subset of Ink's Key this file reads. */
export interface KeyFlags {
  upArrow: boolean; downArrow: boolean; leftArrow: boolean; pageUp: boolean; pageDown: boolean;
  home: boolean; end: boolean; return: boolean; escape: boolean; backspace: boolean; delete: boolean;
  ctrl: boolean; meta: boolean;
}

export const initialUiState = (): UiState => ({
  sort: 'cpu', filter: '', editing: false, selectedKey: null, detailKey: null, detailLast: null, quit: false,
});

export const NO_KEY: KeyFlags = {
  upArrow: false, downArrow: false, leftArrow: false, pageUp: false, pageDown: false, home: false, end: false,
  return: false, escape: false, backspace: false, delete: false, ctrl: false, meta: false,
};

/** Index of the selected row in `rows` (the first row when the selection is gone). */
export function selectedIndex(ui: UiState, rows: readonly Row[]): number {
  const i = ui.selectedKey === null ? -1 : rows.findIndex((r) => r.key === ui.selectedKey);
  return i >= 0 ? i : 0;
}

const isSpecial = (k: KeyFlags): boolean =>
  k.upArrow || k.downArrow || k.leftArrow || k.pageUp || k.pageDown || k.home || k.end
  || k.return || k.escape || k.backspace || k.delete || k.ctrl || k.meta;

/**
 * Applies one key press (or a run of plain characters). `rows` gives the visible rows for a
 * given state (they depend on its sort and filter); `page` is how many rows fit on screen.
 */
export function handleKey(
  ui: UiState, input: string, key: KeyFlags, rows: (ui: UiState) => Row[], page: number,
): UiState {
  if (!isSpecial(key) && [...input].length > 1) {
    return [...input].reduce((s, ch) => handleKey(s, ch, NO_KEY, rows, page), ui);
  }
  if (ui.editing) {
    if (key.escape) return { ...ui, filter: '', editing: false };
    if (key.return) return { ...ui, editing: false };
    if (key.backspace || key.delete) return { ...ui, filter: ui.filter.slice(0, -1) };
    if (input && !key.ctrl && !key.meta) return { ...ui, filter: ui.filter + input };
    return ui;
  }
  if (ui.detailKey !== null) {
    if (input === 'q') return { ...ui, quit: true };
    if (key.escape || key.backspace || key.delete || key.leftArrow) return { ...ui, detailKey: null, detailLast: null };
    return ui;
  }
  if (input === 'q' && !key.ctrl) return { ...ui, quit: true };
  const sort = SORT_KEYS[input];
  if (sort && !key.ctrl && !key.meta) return { ...ui, sort };
  if (input === '/') return { ...ui, editing: true };
  if (key.escape) return { ...ui, filter: '' };

  const list = rows(ui);
  const at = selectedIndex(ui, list);
  const select = (i: number): UiState => {
    const r = list[Math.max(0, Math.min(list.length - 1, i))];
    return { ...ui, selectedKey: r ? r.key : null };
  };
  if (key.upArrow || input === 'k') return select(at - 1);
  if (key.downArrow || input === 'j') return select(at + 1);
  if (key.pageUp) return select(at - page);
  if (key.pageDown) return select(at + page);
  if (key.home || input === 'g') return select(0);
  if (key.end || input === 'G') return select(list.length - 1);
  if (key.return) {
    const r = list[at];
    return r ? { ...ui, selectedKey: r.key, detailKey: r.key, detailLast: r } : ui;
  }
  return ui;
}
