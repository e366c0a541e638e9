// AgentCommander across server replicas over Redis pub/sub: an agent keeps its StreamMetrics
// stream on one replica, and the replica that decided a restart may be another one.
//
// send(agentId, cmd): the local gRPC server first (`local`, i.e. its sendCommand). Otherwise
// a request {r: our replica id, q: request id, a: agentId, c: cmd} goes out on the request
// channel (default "dockwatch:commands"); every replica (ours too) answers on the requester's
// reply channel ("<channel>:reply:<replicaId>") whether it delivered: {q, ok, by}. The first
// ok wins (true). PUBLISH says how many subscribers got the request, so once that many
// answers are in and none is ok the result is false at once; otherwise false after
// timeoutMs (a replica that died between the two, Redis down, a reply lost).
// Two replicas holding a stream of the same agent (a reconnect before the old stream timed
// out) may both deliver: the agent ignores a command id it has seen, so that is harmless.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AgentCommand } from '../../domain/control.js';
import type { AgentCommander } from '../../application/control-ports.js';
import type { Logger } from '../../application/ports.js';

export interface RedisCommanderOptions {
  /** Normal connection for PUBLISH (may be shared; its owner closes it). */
  pub: Redis;
  /** Dedicated connection made with createRedisClient(url, { subscriber: true }); close() disconnects it. */
  sub: Redis;
  replicaId: string;
  /** Delivers to an agent stream on this replica: the gRPC server's sendCommand. */
  local: (agentId: string, cmd: AgentCommand) => boolean;
  log: Logger;
  /** How long to wait for the replica that holds the agent (default 2000 ms). */
  timeoutMs?: number;
  channel?: string;
}

export const DEFAULT_COMMANDS_CHANNEL = 'dockwatch:commands';

interface RequestMessage { r: string; q: string; a: string; c: AgentCommand }
interface ReplyMessage { q: string; ok: boolean; by: string }

interface Pending {
  resolve(ok: boolean): void;
  answers: number;
  /** Subscribers that received the request (null until PUBLISH answered). */
  receivers: number | null;
  timer: ReturnType<typeof setTimeout>;
}

export function createRedisCommander(opts: RedisCommanderOptions): AgentCommander & { close(): Promise<void> } {
  const channel = opts.channel ?? DEFAULT_COMMANDS_CHANNEL;
  const replyChannel = (replica: string): string => `${channel}:reply:${replica}`;
  const myReplies = replyChannel(opts.replicaId);
  const timeoutMs = opts.timeoutMs ?? 2000;
  const log = opts.log.child({ component: 'command-relay' });
  const pending = new Map<string, Pending>();
  let closed = false;

  const settle = (q: string, ok: boolean): void => {
    const p = pending.get(q);
    if (!p) return;
    pending.delete(q);
    clearTimeout(p.timer);
    p.resolve(ok);
  };

  const checkAllAnswered = (q: string): void => {
    const p = pending.get(q);
    if (p && p.receivers !== null && p.answers >= p.receivers) settle(q, false);
  };

  const reply = (to: string, m: ReplyMessage): void => {
    opts.pub.publish(replyChannel(to), JSON.stringify(m)).catch((err: Error) => {
      log.warn({ err: err.message, requestId: m.q }, 'command reply not published');
    });
  };

  const onRequest = (m: RequestMessage): void => {
    // Our own request comes back too: it counts as our (negative: local was tried first) answer.
    if (m.r === opts.replicaId) {
      const p = pending.get(m.q);
      if (p) { p.answers++; checkAllAnswered(m.q); }
      return;
    }
    let ok = false;
    try {
      ok = opts.local(m.a, m.c);
    } catch (err) {
      log.error({ err, agentId: m.a, commandId: m.c?.id }, 'local command delivery failed');
    }
    if (ok) log.info({ agentId: m.a, commandId: m.c.id, from: m.r }, 'command relayed to a local agent');
    reply(m.r, { q: m.q, ok, by: opts.replicaId });
  };

  const onReply = (m: ReplyMessage): void => {
    const p = pending.get(m.q);
    if (!p) return;
    if (m.ok) { settle(m.q, true); return; }
    p.answers++;
    checkAllAnswered(m.q);
  };

  const onMessage = (ch: string, message: string): void => {
    if (ch !== channel && ch !== myReplies) return;
    try {
      const m = JSON.parse(message) as RequestMessage & ReplyMessage;
      if (typeof m?.q !== 'string') throw new Error('no request id');
      if (ch === channel) {
        if (typeof m.a !== 'string' || typeof m.r !== 'string' || typeof m.c?.id !== 'string') throw new Error('malformed request');
        onRequest(m);
      } else {
        onReply(m);
      }
    } catch (err) {
      log.warn({ err: (err as Error).message, channel: ch }, 'bad message on the commands channel');
    }
  };
  opts.sub.on('message', onMessage);
  // On every (re)connect: `sub` is made with { subscriber: true }, so ioredis does not resubscribe itself.
  const subscribeOnce = (): void => {
    opts.sub.subscribe(channel, myReplies).catch(() => { /* retried on 'ready' */ });
  };
  subscribeOnce();
  opts.sub.on('ready', subscribeOnce);

  return {
    async send(agentId, cmd) {
      if (opts.local(agentId, cmd)) return true;
      if (closed) return false;
      const q = randomUUID();
      const result = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => settle(q, false), timeoutMs);
        pending.set(q, { resolve, answers: 0, receivers: null, timer });
      });
      const request: RequestMessage = { r: opts.replicaId, q, a: agentId, c: cmd };
      opts.pub.publish(channel, JSON.stringify(request)).then(
        (receivers) => {
          const p = pending.get(q);
          if (!p) return;
          p.receivers = Number(receivers);
          checkAllAnswered(q);
        },
        (err: Error) => {
          log.warn({ err: err.message, agentId, commandId: cmd.id }, 'command request not published (redis down?)');
          settle(q, false);
        },
      );
      const ok = await result;
      if (!ok) log.debug({ agentId, commandId: cmd.id }, 'no replica holds a command-capable stream of this agent');
      return ok;
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const q of [...pending.keys()]) settle(q, false);
      opts.sub.off('ready', subscribeOnce);
      opts.sub.off('message', onMessage);
      opts.sub.disconnect();
    },
  };
}
