// ContainerRuntime over the Docker Engine API: the container list (cached while the event stream
// vouches for it), inspect (cached per container until its state/health text or an event
// changes it), one shared /events stream that reconnects with backoff, and log tails.
import type { IncomingMessage } from 'node:http';
import type { ContainerInfo, ContainerRuntime, Logger } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import type { ContainerEvent } from '../../domain/types.js';
import { createEngineClient, EngineError, type EngineClient, type EngineTls } from './engine-client.js';
import {
  ACTION_ALIASES, demuxLogs, inspectCacheKey, toContainerEvent, toContainerInfo, WATCHED_ACTIONS,
  type EngineEventMessage, type EngineInspect, type EngineListItem,
} from './mappers.js';

export { dockerOptions, type EngineTls } from './engine-client.js';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST: unix:///path.sock, tcp://host:port or a socket path; default unix:///var/run/docker.sock. */
  dockerHost?: string;
  /** TLS for a tcp:// DOCKER_HOST (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH); without it tcp:// is plain HTTP. */
  tls?: EngineTls;
  log: Logger;
  /** Share a client (tests, or the engine stats reader's). */
  client?: EngineClient;
  /** Inspect calls in flight at once when many containers changed together (default 8). */
  inspectConcurrency?: number;
  /**
   * While the event stream is connected and quiet, serve the container list from memory for up
   * to this long (default 10 000 ms; 0 lists on every call). Any container event, and any gap
   * in the stream, forces a fresh list on the next call.
   */
  listCacheMs?: number;
  /** Event stream reconnect backoff bounds (defaults 500 ms .. 30 s, with jitter). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: () => number;
}

export interface DockerRuntime extends ContainerRuntime {
  readonly client: EngineClient;
  /** Engine calls made so far, to check the caches work. */
  calls(): { list: number; inspect: number };
  /** Whether the event stream is connected right now. */
  eventsConnected(): boolean;
  /** Stops the event stream and closes idle connections. */
  close(): void;
}

// Actions that change what the list says but that consumers do not need as events.
const LIST_ONLY_ACTIONS = ['rename', 'update'];

export function createDockerRuntime(opts: DockerRuntimeOptions): DockerRuntime {
  const client = opts.client ?? createEngineClient(opts.dockerHost, { tls: opts.tls });
  const log = opts.log;
  const clock = opts.clock ?? Date.now;
  const inspectConcurrency = opts.inspectConcurrency ?? 8;
  const listCacheMs = opts.listCacheMs ?? 10_000;
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;

  const inspectCache = new Map<string, { key: string; info: EngineInspect }>();
  let listCache: { at: number; list: ContainerInfo[] } | undefined;
  let listDirty = true;
  let nList = 0;
  let nInspect = 0;

  // ---------- the shared event stream ----------
  const listeners = new Set<(e: ContainerEvent) => void>();
  let started = false;
  let closed = false;
  let connected = false;
  let stream: IncomingMessage | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff = minBackoff;
  /** Up to when (s) we know we saw every event: the `since` of the next reconnect. */
  let goodUntilSec = 0;
  const recent = new Set<string>();

  function deliver(m: EngineEventMessage): void {
    const id = m.Actor?.ID ?? m.id ?? '';
    // After a reconnect `since` replays the overlap: pass each event on once.
    const key = `${m.timeNano ?? m.time}|${id}|${m.Action}`;
    if (recent.has(key)) return;
    recent.add(key);
    if (recent.size > 2000) recent.delete(recent.values().next().value!);
    inspectCache.delete(id);
    listDirty = true;
    const ev = toContainerEvent(m);
    if (!ev) return;
    for (const l of listeners) {
      try {
        l(ev);
      } catch (err) {
        log.error({ err: String(err) }, 'event handler failed');
      }
    }
  }

  function lost(why: string): void {
    stream = undefined;
    if (connected) goodUntilSec = Math.floor(clock() / 1000);
    connected = false;
    listDirty = true;
    if (closed || timer) return;
    const wait = Math.round(backoff * (0.5 + Math.random() * 0.5));
    log.warn({ why, retryInMs: wait }, 'docker event stream lost; reconnecting');
    backoff = Math.min(maxBackoff, backoff * 2);
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, wait);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const filters = JSON.stringify({ type: ['container'], event: [...WATCHED_ACTIONS, ...Object.keys(ACTION_ALIASES), ...LIST_ONLY_ACTIONS] });
    const since = goodUntilSec > 0 ? `&since=${goodUntilSec - 1}` : '';
    let s: IncomingMessage;
    try {
      s = await client.stream(`/events?filters=${encodeURIComponent(filters)}${since}`);
    } catch (err) {
      lost((err as Error).message);
      return;
    }
    if (closed) {
      s.destroy();
      return;
    }
    stream = s;
    if (backoff > minBackoff) {
      // The daemon may have restarted meanwhile: cached inspects may describe old runs.
      inspectCache.clear();
      log.info('docker event stream reconnected');
    }
    connected = true;
    listDirty = true;
    backoff = minBackoff;
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      goodUntilSec = Math.floor(clock() / 1000);
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          deliver(JSON.parse(line) as EngineEventMessage);
        } catch {
          log.debug('unparsable docker event line');
        }
      }
    });
    // 'end', 'close' and 'error' may all fire; only the current stream may trigger a reconnect.
    s.on('error', (err: Error) => stream === s && lost(err.message));
    s.on('end', () => stream === s && lost('stream ended'));
    s.on('close', () => stream === s && lost('stream closed'));
  }

  function ensureEvents(): void {
    if (started || closed) return;
    started = true;
    void connect();
  }

  // ---------- list + inspect ----------
  async function inspect(item: EngineListItem): Promise<EngineInspect | undefined> {
    const key = inspectCacheKey(item);
    const hit = inspectCache.get(item.Id);
    if (hit && hit.key === key) return hit.info;
    try {
      nInspect++;
      const info = await client.getJson<EngineInspect>(`/containers/${encodeURIComponent(item.Id)}/json`);
      inspectCache.set(item.Id, { key, info });
      return info;
    } catch (err) {
      // Removed between list and inspect: the list entry alone still describes it.
      log.debug({ container: item.Id, err: String(err) }, 'inspect failed');
      return undefined;
    }
  }

  async function freshList(): Promise<ContainerInfo[]> {
    let items: EngineListItem[];
    listDirty = false; // events arriving while we list make it dirty again
    try {
      nList++;
      items = await client.getJson<EngineListItem[]>('/containers/json?all=1');
    } catch (err) {
      listDirty = true;
      throw new AppError('UNAVAILABLE', `docker engine unreachable: ${(err as Error).message}`);
    }
    const out: ContainerInfo[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = toContainerInfo(items[i]!, await inspect(items[i]!));
      }
    };
    await Promise.all(Array.from({ length: Math.min(inspectConcurrency, items.length) }, worker));
    const seen = new Set(items.map((i) => i.Id));
    for (const id of inspectCache.keys()) if (!seen.has(id)) inspectCache.delete(id);
    return out;
  }

  return {
    client,
    calls: () => ({ list: nList, inspect: nInspect }),
    eventsConnected: () => connected,

    async listContainers(): Promise<ContainerInfo[]> {
      if (listCacheMs > 0) ensureEvents();
      const now = clock();
      if (listCache && connected && !listDirty && now - listCache.at < listCacheMs) return listCache.list;
      const list = await freshList();
      listCache = { at: now, list };
      return list;
    },

    watchEvents(onEvent: (event: ContainerEvent) => void): () => void {
      listeners.add(onEvent);
      ensureEvents();
      return () => {
        listeners.delete(onEvent);
      };
    },

    async tailLogs(id: string, lines: number): Promise<string[]> {
      const n = Math.max(1, Math.floor(lines));
      try {
        const buf = await client.getBuffer(`/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=${n}`);
        const text = demuxLogs(buf);
        return text === '' ? [] : text.replace(/\n$/, '').split('\n');
      } catch (err) {
        if (err instanceof EngineError && err.statusCode === 404) throw new AppError('NOT_FOUND', `no container ${id}`);
        throw new AppError('UNAVAILABLE', `docker logs failed: ${(err as Error).message}`);
      }
    },

    async restartContainer(id: string, timeoutSec: number): Promise<void> {
      const t = Math.max(0, Math.floor(timeoutSec));
      // The Engine answers once the container runs again: up to t s of graceful stop, then the
      // kill and the start. The abort only bounds a daemon that never answers.
      const signal = AbortSignal.timeout((t + 60) * 1000);
      try {
        await client.post(`/containers/${encodeURIComponent(id)}/restart?t=${t}`, { signal });
      } catch (err) {
        if (err instanceof EngineError && err.statusCode === 404) throw new AppError('NOT_FOUND', `no such container: ${id}`);
        if (err instanceof EngineError && err.statusCode > 0) {
          throw new AppError(err.statusCode === 409 ? 'CONFLICT' : 'UNAVAILABLE', `docker restart failed (HTTP ${err.statusCode}): ${err.engineMessage}`);
        }
        throw new AppError('UNAVAILABLE', `docker restart failed: ${(err as Error).message}`);
      }
      inspectCache.delete(id);
      listDirty = true;
    },

    close(): void {
      closed = true;
      connected = false;
      if (timer) clearTimeout(timer);
      stream?.destroy();
      listeners.clear();
      client.close();
    },
  };
}
