// ContainerRuntime over the Docker Engine API (dockerode): container list, cached inspect,
// the /events stream (reconnecting), and log tails.
import Docker from 'dockerode';
import type { ContainerInfo, ContainerRuntime, Logger } from '../../application/ports.js';
import { AppError } from '../../application/errors.js';
import type { ContainerEvent } from '../../domain/types.js';
import {
  demuxLogs, inspectCacheKey, toContainerEvent, toContainerInfo, WATCHED_ACTIONS,
  type EngineEventMessage, type EngineInspect, type EngineListItem,
} from './mappers.js';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST: unix:///path.sock, tcp://host:port, or a bare socket path. Default: dockerode's (env / /var/run/docker.sock). */
  dockerHost?: string;
  log: Logger;
  /** Inspect calls in flight at once when many containers changed together. */
  inspectConcurrency?: number;
  /** Reconnect backoff bounds for the event stream. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface DockerRuntime extends ContainerRuntime {
  /** The dockerode client, for the engine-API stats reader. */
  readonly docker: Docker;
  /** Inspect calls made so far (the cache should keep this near the number of changes). */
  inspectCalls(): number;
}

/** DOCKER_HOST -> dockerode options. */
export function dockerOptions(dockerHost: string | undefined): Docker.DockerOptions | undefined {
  if (!dockerHost) return undefined;
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?/.exec(dockerHost);
  if (!m) throw new AppError('INVALID_ARGUMENT', `unsupported DOCKER_HOST "${dockerHost}"`, { field: 'DOCKER_HOST' });
  return { protocol: m[1] === 'https' ? 'https' : 'http', host: m[2]!, port: m[3] ? Number(m[3]) : 2375 };
}

export function createDockerRuntime(opts: DockerRuntimeOptions): DockerRuntime {
  const docker = new Docker(dockerOptions(opts.dockerHost));
  const log = opts.log;
  const inspectConcurrency = opts.inspectConcurrency ?? 8;
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  // Inspect results per container id, valid while the list's state/health text is unchanged
  // and no event touched the container: 100 containers do not cost 100 inspects a second.
  const inspectCache = new Map<string, { key: string; info: EngineInspect }>();
  let inspects = 0;

  async function inspect(item: EngineListItem): Promise<EngineInspect | undefined> {
    const key = inspectCacheKey(item);
    const hit = inspectCache.get(item.Id);
    if (hit && hit.key === key) return hit.info;
    try {
      inspects++;
      const info = (await docker.getContainer(item.Id).inspect()) as unknown as EngineInspect;
      inspectCache.set(item.Id, { key, info });
      return info;
    } catch (err) {
      // Removed between list and inspect: the list entry alone still describes it.
      log.debug({ container: item.Id, err: String(err) }, 'inspect failed');
      return undefined;
    }
  }

  return {
    docker,
    inspectCalls: () => inspects,

    async listContainers(): Promise<ContainerInfo[]> {
      let items: EngineListItem[];
      try {
        items = (await docker.listContainers({ all: true })) as unknown as EngineListItem[];
      } catch (err) {
        throw new AppError('UNAVAILABLE', `docker engine unreachable: ${(err as Error).message}`);
      }
      const seen = new Set<string>();
      const out: ContainerInfo[] = new Array(items.length);
      let next = 0;
      const worker = async () => {
        while (next < items.length) {
          const i = next++;
          const item = items[i]!;
          seen.add(item.Id);
          out[i] = toContainerInfo(item, await inspect(item));
        }
      };
      await Promise.all(Array.from({ length: Math.min(inspectConcurrency, items.length) }, worker));
      for (const id of inspectCache.keys()) if (!seen.has(id)) inspectCache.delete(id);
      return out;
    },

    watchEvents(onEvent: (event: ContainerEvent) => void): () => void {
      let stopped = false;
      let stream: NodeJS.ReadableStream | undefined;
      let timer: NodeJS.Timeout | undefined;
      let backoff = minBackoff;
      let lastSec = 0;
      const recent = new Set<string>();

      const deliver = (m: EngineEventMessage) => {
        const ev = toContainerEvent(m);
        if (!ev) return;
        // After a reconnect `since` replays the last second: drop what we already passed on.
        const key = `${m.timeNano ?? m.time}|${ev.containerId}|${m.Action}`;
        if (recent.has(key)) return;
        recent.add(key);
        if (recent.size > 1000) recent.delete(recent.values().next().value!);
        lastSec = Math.max(lastSec, m.time ?? 0);
        inspectCache.delete(ev.containerId);
        try {
          onEvent(ev);
        } catch (err) {
          log.error({ err: String(err) }, 'event handler failed');
        }
      };

      const reconnect = (why: string) => {
        stream = undefined;
        if (stopped || timer) return;
        const wait = Math.round(backoff * (0.5 + Math.random() * 0.5));
        log.warn({ why, retryInMs: wait }, 'docker event stream lost; reconnecting');
        backoff = Math.min(maxBackoff, backoff * 2);
        timer = setTimeout(() => {
          timer = undefined;
          void connect();
        }, wait);
      };

      const connect = async () => {
        if (stopped) return;
        try {
          const filters: Record<string, string[]> = { type: ['container'], event: [...WATCHED_ACTIONS] };
          const s = (await docker.getEvents({
            filters: JSON.stringify(filters),
            ...(lastSec > 0 ? { since: lastSec } : {}),
          })) as NodeJS.ReadableStream;
          if (stopped) {
            (s as unknown as { destroy(): void }).destroy();
            return;
          }
          stream = s;
          if (backoff > minBackoff) {
            // The daemon may have restarted: every cached inspect may be stale.
            inspectCache.clear();
            log.info('docker event stream reconnected');
          }
          backoff = minBackoff;
          let buf = '';
          s.on('data', (chunk: Buffer) => {
            buf += chunk.toString('utf8');
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
          // 'end' and 'close' both fire; only the current stream may trigger a reconnect.
          s.on('error', (err: Error) => stream === s && reconnect(err.message));
          s.on('end', () => stream === s && reconnect('stream ended'));
          s.on('close', () => stream === s && reconnect('stream closed'));
        } catch (err) {
          reconnect((err as Error).message);
        }
      };

      void connect();
      return () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        const s = stream as unknown as { destroy?: () => void } | undefined;
        s?.destroy?.();
      };
    },

    async tailLogs(id: string, lines: number): Promise<string[]> {
      try {
        const buf = (await docker.getContainer(id).logs({
          stdout: true, stderr: true, follow: false, tail: Math.max(1, Math.floor(lines)),
        })) as unknown as Buffer;
        const text = demuxLogs(buf);
        return text === '' ? [] : text.replace(/\n$/, '').split('\n');
      } catch (err) {
        const code = (err as { statusCode?: number }).statusCode;
        if (code === 404) throw new AppError('NOT_FOUND', `no container ${id}`);
        throw new AppError('UNAVAILABLE', `docker logs failed: ${(err as Error).message}`);
      }
    },
  };
}
