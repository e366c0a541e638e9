// All of the history page's data access in one place, so a change in the API's shape is a
// change here only. Returns cumulative counters; the page derives rates.
import { api, normaliseHistory } from './common.js';

/** Containers and hosts to choose from. */
export async function listTargets() {
  const [containers, hosts] = await Promise.all([api('/api/containers'), api('/api/hosts')]);
  return {
    containers: (containers || []).map((c) => ({ id: c.id, name: c.name, host: c.host, state: c.state })),
    hosts: (hosts || []).map((h) => ({ id: h.id, hostname: h.hostname || h.id })),
  };
}

/**
 * Points of one container or host between fromMs and toMs (step chosen by the server).
 * Each point: { ts, cpu, mem, memLimit, rx, tx, rd, wr, pids } with nulls where missing.
 */
export async function fetchHistory(kind, id, fromMs, toMs) {
  const range = `from=${Math.floor(fromMs)}&to=${Math.ceil(toMs)}`;
  const path = kind === 'container'
    ? `/api/metrics?container_id=${encodeURIComponent(id)}&${range}`
    : `/api/hosts/${encodeURIComponent(id)}/metrics?${range}`;
  const { stepMs, points } = normaliseHistory(await api(path));
  return {
    stepMs,
    points: points.map((p) => ({
      ts: p.ts,
      cpu: p.get('cpu_percent'),
      mem: kind === 'container' ? p.get('mem_usage_bytes') : p.get('mem_used_bytes'),
      memLimit: kind === 'container' ? p.get('mem_limit_bytes') : p.get('mem_total_bytes'),
      rx: p.get('net_rx_bytes'),
      tx: p.get('net_tx_bytes'),
      rd: p.get('blk_read_bytes'),
      wr: p.get('blk_write_bytes'),
      pids: p.get('pids'),
    })),
  };
}

/** The same point shape from a live /ws message, or null when it is not for this target. */
export function livePoint(kind, id, msg) {
  if (kind === 'container' && msg.type === 'sample' && msg.container && msg.container.id === id) {
    const s = msg.container.stats || {};
    return {
      ts: s.ts, cpu: s.cpu_percent ?? null, mem: s.mem_usage_bytes ?? null, memLimit: s.mem_limit_bytes ?? null,
      rx: s.net_rx_bytes ?? null, tx: s.net_tx_bytes ?? null, rd: s.blk_read_bytes ?? null, wr: s.blk_write_bytes ?? null,
      pids: s.pids ?? null,
    };
  }
  if (kind === 'host' && msg.type === 'host' && msg.sample && (msg.host === id || msg.agent_id === id)) {
    const s = msg.sample;
    return {
      ts: s.ts, cpu: s.cpu_percent ?? null, mem: s.mem_used_bytes ?? null, memLimit: s.mem_total_bytes ?? null,
      rx: s.net_rx_bytes ?? null, tx: s.net_tx_bytes ?? null, rd: null, wr: null, pids: null,
    };
  }
  return null;
}

/** Stored alert events (firing and resolved) between fromMs and toMs, for the chart annotations. */
export async function fetchAlerts(fromMs, toMs) {
  const body = await api(`/api/alerts?from=${Math.floor(fromMs)}&to=${Math.ceil(toMs)}&limit=2000`);
  return (body && body.alerts) || [];
}

/**
 * Stored lifecycle events of one container between fromMs and toMs, oldest first:
 * [{ containerId, action, ts, exitCode, health }] (only `actions` when given).
 */
export async function fetchEvents(containerId, fromMs, toMs, actions) {
  const only = actions ? `&action=${encodeURIComponent(actions.join(','))}` : '';
  const body = await api(`/api/containers/${encodeURIComponent(containerId)}/events?from=${Math.floor(fromMs)}&to=${Math.ceil(toMs)}&limit=10000${only}`);
  return ((body && body.events) || []).map((e) => ({ containerId: e.container_id, action: e.action, ts: e.ts, exitCode: e.exit_code, health: e.health }));
}
