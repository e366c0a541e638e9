// End to end inside the alerting area, with real parts only: a real container burns CPU
// (read by the collector through cgroups), an agent loop numbers batches and publishes them on
// replica A's Redis metrics bus; TWO server replicas (engine + stream publisher + notifier
// worker each) share a private redis-server; Slack/Discord/webhook stand-ins and a real SMTP
// server receive. Checks: exactly once per channel within the cooldown, resolution, the label
// override, a never-started watched container, a dying container's log lines, and a
// redis-server killed and restarted while an alert is raised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { withAlertContext } from '../../src/application/alert-context.js';
import type { AlertEvent, StoredAlert } from '../../src/application/alert-ports.js';
import { createAlertEngine } from '../../src/application/alerting.js';
import { runAgentLoop } from '../../src/application/agent-loop.js';
import { createCollector } from '../../src/application/collect.js';
import { defaultRules } from '../../src/domain/alerts/rules.js';
import { createCgroupUsageReader } from '../../src/infrastructure/cgroup/reader.js';
import { createDockerRuntime } from '../../src/infrastructure/docker/runtime.js';
import { createEngineStatsReader } from '../../src/infrastructure/docker/stats-reader.js';
import { createHostCollector } from '../../src/infrastructure/host/collector.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createNotificationDispatcher } from '../../src/infrastructure/notifiers/delivery.js';
import { createDiscordChannel } from '../../src/infrastructure/notifiers/discord.js';
import { createEmailChannel } from '../../src/infrastructure/notifiers/email.js';
import { createSlackChannel } from '../../src/infrastructure/notifiers/slack.js';
import { createWebhookChannel } from '../../src/infrastructure/notifiers/webhook.js';
import { createAlertStreamPublisher, startAlertStreamConsumer } from '../../src/infrastructure/redis/alert-stream.js';
import { createRedisClient } from '../../src/infrastructure/redis/connection.js';
import { createRedisCooldown } from '../../src/infrastructure/redis/cooldown.js';
import { createRedisMetricsBus } from '../../src/infrastructure/redis/metrics-bus.js';
import { ownRedis, startReceivers, startSmtp, waitFor } from '../helpers/alert-services.js';
import { requireEnv } from '../helpers/env.js';
import { memoryLog } from '../helpers/silent-log.js';
import { checkDiscordPayload, checkSlackPayload } from '../helpers/webhook-shapes.js';

const run = promisify(execFile);
const dockerHost = requireEnv('TEST_DOCKER_HOST');
const image = requireEnv('TEST_DOCKER_IMAGE');
requireEnv('TEST_PYTHON');
const docker = (...args: string[]) => run('docker', args, { env: { ...process.env, DOCKER_HOST: dockerHost } }).then((r) => r.stdout.trim());

test('e2e: CPU alert once per channel with two replicas, resolution, label silence, watched ghost, log tail, Redis killed and back', { timeout: 240_000 }, async (t) => {
  const runId = randomUUID().slice(0, 8);
  const pfx = `alerts-e2e-${runId}`;
  const names = { hot: `${pfx}-hot`, quiet: `${pfx}-quiet`, die1: `${pfx}-die1`, die2: `${pfx}-die2`, ghost: `${pfx}-ghost` };
  const hostname = `${pfx}-host`;
  const log = memoryLog();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) { try { await c(); } catch { /* best effort */ } }
  });

  const redis = await ownRedis();
  cleanups.push(() => redis.kill());
  const smtp = await startSmtp();
  cleanups.push(() => smtp.stop());
  const rx = await startReceivers({ '/slack': checkSlackPayload, '/discord': checkDiscordPayload, '/hook': () => [] });
  cleanups.push(() => rx.close());

  const rules = defaultRules({ cpuThreshold: 15, watchContainers: [names.ghost] });
  for (const r of rules.rules) {
    if (r.kind === 'cpu') r.forMs = 3000;
    if (r.kind === 'cpu_spike' || r.kind === 'memory_spike' || r.kind === 'host_disk') r.enabled = false;
  }
  const stream = `dwtest:${pfx}:alerts`;
  const channel = `dwtest:${pfx}:metrics`;
  const keyPrefix = `dwtest:${pfx}:`;
  const history: StoredAlert[] = [];

  function replica(id: string) {
    const client = (n: string) => { const c = createRedisClient(redis.url, { name: `${id}-${n}`, subscriber: n === 'sub' }); cleanups.push(() => c.disconnect()); return c; };
    const cmd = client('cmd');
    const bus = createRedisMetricsBus({ pub: client('pub'), sub: client('sub'), local: createMemoryBus(), replicaId: id, channel, log });
    const dispatcher = createNotificationDispatcher({ log, timeoutMs: 10_000, channels: [
      createSlackChannel({ webhookUrl: rx.url('/slack'), publicUrl: 'http://dw.test' }),
      createDiscordChannel({ webhookUrl: rx.url('/discord'), publicUrl: 'http://dw.test' }),
      createWebhookChannel({ url: rx.url('/hook'), publicUrl: 'http://dw.test' }),
      createEmailChannel({ host: '127.0.0.1', port: smtp.port, from: 'dw@test', to: ['oncall@test'], publicUrl: 'http://dw.test' })] });
    const engine = createAlertEngine({ rules, defaults: {}, log, now: Date.now, cooldownMs: 300_000, keyPrefix,
      cooldown: createRedisCooldown(cmd), publisher: createAlertStreamPublisher(cmd, { stream }),
      history: { writeAlertEvent: async (e) => { history.push(e); }, queryAlerts: async () => history },
      offlineChecksPaused: () => !bus.connected() });
    const worker = startAlertStreamConsumer({ redis: client('worker'), stream, consumer: id, log, blockMs: 500, claimIdleMs: 5000,
      handler: (n) => dispatcher.deliver(n) });
    cleanups.push(() => worker.stop());
    const sub = bus.subscribe((b) => { void engine.onBatch(b); });
    cleanups.push(() => sub.close());
    const ticker = setInterval(() => { void engine.tick(); }, 300);
    cleanups.push(() => clearInterval(ticker));
    return { bus, engine };
  }
  const A = replica('replica-a');
  const B = replica('replica-b');

  // The agent: collector + events with log tails, only this test's containers.
  const runtime = createDockerRuntime({ dockerHost, log });
  // The runtime keeps its event stream open until closed.
  cleanups.push(() => (runtime as { close?: () => void }).close?.());
  const collector = createCollector({ runtime, log, readers: [createCgroupUsageReader({ log }), createEngineStatsReader({ dockerHost, log })],
    host: createHostCollector({ runtimeAvailable: () => true, log }) });
  const mine = new Set<string>();
  const agent = runAgentLoop({
    agentId: `${pfx}-agent`, hostname, intervalMs: 1000, clock: Date.now, log,
    collect: async () => {
      const r = await collector.collect();
      const containers = r.containers.filter((c) => c.labels['dockwatch.alerttest'] === runId);
      for (const c of containers) mine.add(c.id);
      return { host: r.host, containers, runtimeAvailable: r.runtimeAvailable };
    },
    watchEvents: (on) => withAlertContext(runtime, log)((e) => { if (e.attributes['dockwatch.alerttest'] === runId) on(e); }),
    send: (b) => { void A.bus.publish(b); },
  });
  cleanups.push(() => agent.stop());

  const start = async (name: string, cpus: string, extra: string[], cmd: string) => {
    const id = await docker('run', '-d', '--name', name, '--network', 'none', '--cpus', cpus, '--label', 'dockwatch.test=1',
      '--label', `dockwatch.alerttest=${runId}`, ...extra, image, 'sh', '-c', cmd);
    cleanups.push(() => docker('rm', '-f', name));
    return id;
  };
  const burn = (name: string) => docker('exec', '-d', name, 'sh', '-c', 'echo $$ > /dev/shm/burn.pid; exec yes > /dev/null');
  const calm = (name: string) => docker('exec', name, 'sh', '-c', 'kill $(cat /dev/shm/burn.pid)');

  // Deliveries of one alert, per channel.
  const key = (a: Pick<AlertEvent, 'state' | 'ruleId' | 'containerName'>) => `${a.state} ${a.ruleId} ${a.containerName}`;
  const perChannel = (): { slack: string[]; discord: string[]; hook: string[]; email: string[] } => ({
    slack: rx.received('/slack').map((r) => JSON.stringify(r.body)),
    discord: rx.received('/discord').map((r) => JSON.stringify(r.body)),
    hook: rx.received('/hook').map((r) => { const a = (r.body as { alert: AlertEvent }).alert; return key(a); }),
    email: smtp.mails().map((m) => m.subject),
  });
  const title = (a: { state: string; ruleId: string; containerName: string }) => a.state === 'firing' ? `FIRING ${a.ruleId}: ${a.containerName} on ${hostname}` : `RESOLVED ${a.ruleId}: ${a.containerName} on ${hostname}`;
  const count = (a: { state: 'firing' | 'resolved'; ruleId: string; containerName: string }): number[] => {
    const c = perChannel();
    return [c.slack.filter((s) => s.includes(title(a))).length, c.discord.filter((s) => s.includes(title(a))).length,
      c.hook.filter((s) => s === key(a)).length, c.email.filter((s) => s.includes(title(a))).length];
  };
  const delivered = (a: { state: 'firing' | 'resolved'; ruleId: string; containerName: string }, timeoutMs = 60_000) =>
    waitFor(`${key(a)} on all channels`, () => count(a).every((n) => n >= 1), timeoutMs, 200);
  const settle = () => new Promise((r) => setTimeout(r, 2500));

  // ---- phase 1: hot burns, quiet burns silenced by its label, die1 crashes, ghost never exists.
  await start(names.hot, '0.3', [], 'sleep 100000');
  await start(names.quiet, '0.3', ['--label', 'dockwatch.alerts=off'], 'yes > /dev/null');
  await burn(names.hot);
  await start(names.die1, '0.1', [], 'echo starting; echo "fatal: config missing"; sleep 3; exit 3');

  const hotFiring = { state: 'firing' as const, ruleId: 'cpu', containerName: names.hot };
  await delivered(hotFiring);
  await delivered({ state: 'firing', ruleId: 'stopped', containerName: names.die1 });
  await delivered({ state: 'firing', ruleId: 'watched', containerName: names.ghost });
  await settle();
  assert.deepEqual(count(hotFiring), [1, 1, 1, 1], 'exactly once per channel with two replicas');
  assert.deepEqual(count({ state: 'firing', ruleId: 'stopped', containerName: names.die1 }), [1, 1, 1, 1]);
  assert.deepEqual(count({ state: 'firing', ruleId: 'watched', containerName: names.ghost }), [1, 1, 1, 1]);
  const dieMail = smtp.mails().find((m) => m.subject.includes(`stopped: ${names.die1}`))!;
  assert.match(dieMail.text, /Exit code: 3/);
  assert.match(dieMail.text, /Last log lines:\nstarting\nfatal: config missing/);
  const dieHook = rx.received('/hook').map((r) => (r.body as { alert: AlertEvent }).alert).find((a) => a.containerName === names.die1)!;
  assert.deepEqual(dieHook.context, { exitCode: 3, logTail: ['starting', 'fatal: config missing'] });
  for (const r of [...rx.received('/slack'), ...rx.received('/discord')]) assert.deepEqual(r.problems, [], r.path);

  // ---- the container calms down: resolved, once.
  await calm(names.hot);
  await delivered({ state: 'resolved', ruleId: 'cpu', containerName: names.hot });

  // ---- it burns again within the cooldown: the engines see it firing, nobody is notified again.
  await burn(names.hot);
  await waitFor('re-fire seen by both engines', () =>
    [A, B].every((r) => r.engine.firing().some((f) => f.ruleId === 'cpu' && f.containerName === names.hot)), 60_000, 200);
  await settle();
  assert.deepEqual(count(hotFiring), [1, 1, 1, 1], 'cooldown holds the second firing');
  assert.ok(A.engine.stats().suppressed + B.engine.stats().suppressed >= 1);
  await calm(names.hot);
  await waitFor('hot calm in both engines, nothing queued', () => [A, B].every((r) =>
    !r.engine.firing().some((f) => f.containerName === names.hot) && r.engine.stats().queued === 0), 60_000, 200);

  // ---- Redis dies; an alert is raised meanwhile; Redis comes back: delivered exactly once.
  await redis.kill();
  await start(names.die2, '0.1', [], 'echo bye; sleep 1; exit 4');
  await waitFor('alert queued while Redis is down', () => A.engine.health().status === 'degraded' && A.engine.stats().queued >= 1, 60_000, 200);
  assert.match(A.engine.health().reason ?? '', /unavailable|redis|Stream/i);
  await redis.start();
  const die2 = { state: 'firing' as const, ruleId: 'stopped', containerName: names.die2 };
  await delivered(die2, 90_000);
  await settle();
  assert.deepEqual(count(die2), [1, 1, 1, 1], 'exactly once after the Redis restart');
  await waitFor('engine healthy again', () => A.engine.health().status === 'ok', 30_000, 200);

  // ---- never: the silenced sibling, a false agent-offline, any duplicate.
  const all = perChannel();
  assert.equal(all.hook.filter((k) => k.includes(names.quiet)).length, 0, 'label override silences quiet');
  assert.equal(all.hook.filter((k) => k.includes('agent_offline')).length, 0);
  assert.equal(new Set(all.hook).size, all.hook.length, `no duplicates: ${all.hook.join(' | ')}\n${history.map((h) => `${h.id} @${h.timestampMs}`).join('\n')}\n${JSON.stringify(log.lines.filter((l) => l.level !== 'debug').map((l) => [l.msg, l.obj]).slice(-80))}`);
  assert.ok(mine.size >= 4);
});
