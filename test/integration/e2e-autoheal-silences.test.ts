// Issue 14 end to end, with real parts only: real dockerd containers with HEALTHCHECKs, one real
// `dockwatch agent` process, TWO `dockwatch server` processes sharing a private redis-server,
// a real SMTP server, and Slack/Discord/webhook stand-ins that check the documented payloads.
//   - autoheal: a container whose health check starts failing is restarted (by whichever
//     replica claims it, through the agent on replica A), becomes healthy, its alert resolves;
//   - a container that never recovers is restarted up to the cap, then "autoheal gave up" is
//     paged exactly once; a container without the label is never touched;
//   - silences: a matching alert is recorded and listed as silenced, not notified; expiring the
//     silence while it fires notifies it then, once;
//   - acknowledgements stop reminders; the audit trail lists every action with its actor.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { requireEnv } from '../helpers/env.js';
import { dockerCli, freePort, runCli, tempDir, type RunningCli } from '../helpers/cli-process.js';
import { ownRedis, startReceivers, startSmtp, waitFor, type OwnRedis, type Receivers, type SmtpServer } from '../helpers/alert-services.js';
import { checkDiscordPayload, checkSlackPayload, checkWebhookPayload } from '../helpers/webhook-shapes.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
requireEnv('TEST_PYTHON');
const docker = dockerCli(DOCKER_HOST);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = randomUUID().slice(0, 6);
const pfx = `e2e-heal-${run}`;
const names = { heal: `${pfx}-heal`, doomed: `${pfx}-doomed`, bystander: `${pfx}-bystander`, quiet: `${pfx}-quiet` };

let redis: OwnRedis;
let smtp: SmtpServer;
let rx: Receivers;
const procs: RunningCli[] = [];
const ports = { a: 0, ag: 0, b: 0, bg: 0 };
let token = '';
let startB: () => RunningCli;

interface Hook { type: string; text: string; alert?: { id: string; ruleId: string; state: string; containerName: string; message: string }; action?: { action: string; outcome: string; containerName: string } }
const hooks = (): Hook[] => rx.received('/hook').map((r) => r.body as Hook);
const alertHooks = (container: string, ruleId: string, state?: string) =>
  hooks().filter((h) => h.type === 'alert' && h.alert?.containerName === container && h.alert.ruleId === ruleId && (!state || h.alert.state === state));
const actionHooks = (container: string) => hooks().filter((h) => h.type === 'action' && h.action?.containerName === container);

const api = async <T>(port: number, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as T };
};

const inspect = async (name: string) => JSON.parse(await docker('inspect', name))[0] as { Id: string; RestartCount: number; State: { StartedAt: string; Health?: { Status: string } } };

before(async () => {
  redis = await ownRedis();
  smtp = await startSmtp();
  rx = await startReceivers({ '/slack': checkSlackPayload, '/discord': checkDiscordPayload, '/hook': checkWebhookPayload });
  Object.assign(ports, { a: await freePort(), ag: await freePort(), b: await freePort(), bg: await freePort() });
  const common = {
    HOST: '127.0.0.1', REDIS_URL: redis.url, AGENT_TOKEN: 'heal-agent-token', JWT_SECRET: 'heal-test-secret-0123456789-0123456789',
    ADMIN_PASSWORD: 'heal-admin-pw', SLACK_WEBHOOK_URL: rx.url('/slack'), DISCORD_WEBHOOK_URL: rx.url('/discord'), WEBHOOK_URL: rx.url('/hook'),
    SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), ALERT_EMAIL_TO: 'ops@example.test', SMTP_FROM: 'dockwatch@example.test',
    ALERT_COOLDOWN: '0s', ALERT_REPEAT_INTERVAL: '3s',
    AUTOHEAL_BACKOFF: '2s', AUTOHEAL_BACKOFF_MAX: '4s', AUTOHEAL_MAX_RESTARTS: '2', AUTOHEAL_RESTART_TIMEOUT: '1s',
  };
  const dataB = tempDir('dw-heal-b-');
  startB = () => runCli(['server'], { ...common, PORT: String(ports.b), GRPC_PORT: String(ports.bg), DATA_DIR: dataB });
  procs.push(runCli(['server'], { ...common, PORT: String(ports.a), GRPC_PORT: String(ports.ag), DATA_DIR: tempDir('dw-heal-a-') }), startB());
  await Promise.all(procs.map((p) => p.waitFor(/"msg":"server started"/)));
  const agent = runCli(['agent'], {
    DOCKER_HOST, SERVER_ADDR: `127.0.0.1:${ports.ag}`, AGENT_TOKEN: 'heal-agent-token', COLLECT_INTERVAL: '1s', AGENT_ID: `${pfx}-agent`, HOST_NAME: `${pfx}-host`,
  });
  procs.push(agent);
  await agent.waitFor(/"msg":"metrics stream connected"/);
  const login = await fetch(`http://127.0.0.1:${ports.b}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'heal-admin-pw' }),
  });
  token = ((await login.json()) as { token: string }).token;
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await docker('rm', '-f', ...Object.values(names)).catch(() => undefined);
  await rx?.close();
  await smtp?.stop();
  await redis?.kill();
});

const health = (cmd: string) => ['--health-cmd', cmd, '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '1'];

test('autoheal restarts an opted-in container that turned unhealthy; a hopeless one hits the cap and pages once; others are untouched', { timeout: 180_000 }, async () => {
  const wsActions: { action: string; outcome: string; containerName: string }[] = [];
  const sockets = [ports.a, ports.b].map((p) => {
    const ws = new WebSocket(`ws://127.0.0.1:${p}/ws?token=${encodeURIComponent(token)}`);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; action?: { action: string; outcome: string; containerName: string } };
      if (m.type === 'action' && m.action) wsActions.push(m.action);
    });
    return ws;
  });
  await Promise.all([
    docker('run', '-d', '--name', names.heal, '--network', 'none', '--label', 'dockwatch.autoheal=true', ...health('test -f /tmp/ok'),
      IMAGE, 'sh', '-c', 'touch /tmp/ok; exec sleep 3600'),
    docker('run', '-d', '--name', names.doomed, '--network', 'none', '--label', 'dockwatch.autoheal=true', ...health('false'),
      IMAGE, 'sleep', '3600'),
    docker('run', '-d', '--name', names.bystander, '--network', 'none', ...health('false'), IMAGE, 'sleep', '3600'),
  ]);
  await waitFor('the heal container is healthy', async () => (await inspect(names.heal)).State.Health?.Status === 'healthy', 30_000, 500);
  const before = await inspect(names.heal);
  const bystanderStart = (await inspect(names.bystander)).State.StartedAt;

  // Its health check starts failing.
  await docker('exec', names.heal, 'busybox', 'rm', '/tmp/ok');
  await waitFor('the heal container was restarted by autoheal', async () => (await inspect(names.heal)).State.StartedAt !== before.State.StartedAt, 60_000, 500);
  await waitFor('healthy again after the restart', async () => (await inspect(names.heal)).State.Health?.Status === 'healthy', 30_000, 500);
  await waitFor('its unhealthy alert resolved', () => alertHooks(names.heal, 'unhealthy', 'resolved')[0], 30_000);
  assert.equal(alertHooks(names.heal, 'unhealthy', 'firing').length, 1, 'fired once');
  await waitFor('restart outcome announced on the channels', () => actionHooks(names.heal).find((h) => h.action!.outcome === 'ok'), 20_000);

  // The hopeless one: 2 restarts (the cap here), then one page.
  const gaveUp = await waitFor('autoheal gave up on the doomed container', () => alertHooks(names.doomed, 'autoheal_gave_up', 'firing')[0], 90_000, 250);
  assert.match(gaveUp.alert!.message, /autoheal gave up/);
  await sleep(8000); // room for a second page, a third restart or a replica's duplicate to show up
  assert.equal(alertHooks(names.doomed, 'autoheal_gave_up', 'firing').length, 1, 'paged once across two replicas');
  const doomed = await inspect(names.doomed);
  const restartsOfDoomed = actionHooks(names.doomed).filter((h) => h.action!.action === 'autoheal.restart' && h.action!.outcome === 'ok').length;
  assert.equal(restartsOfDoomed, 2, JSON.stringify(actionHooks(names.doomed).map((h) => h.action)));
  assert.notEqual(doomed.State.StartedAt, '0001-01-01T00:00:00Z');
  for (const ch of ['/slack', '/discord']) {
    const got = rx.received(ch);
    assert.ok(got.some((g) => JSON.stringify(g.body).includes('gave up')), `${ch} got the gave-up page`);
    assert.deepEqual(got.flatMap((g) => g.problems), [], `${ch} payloads match the documented format`);
  }
  assert.deepEqual(rx.received('/hook').flatMap((g) => g.problems), []);
  await waitFor('the gave-up page by email', () => smtp.mails().find((m) => /gave up/.test(m.subject + m.text)), 20_000);

  // The one without a label: alerting, never restarted.
  assert.ok(alertHooks(names.bystander, 'unhealthy', 'firing').length >= 1);
  assert.equal((await inspect(names.bystander)).State.StartedAt, bystanderStart);
  assert.equal(actionHooks(names.bystander).length, 0);

  assert.ok(wsActions.some((a) => a.containerName === names.heal && a.action === 'autoheal.restart' && a.outcome === 'ok'), JSON.stringify(wsActions));
  for (const ws of sockets) ws.close();

  const audit = await api<{ events: { action: string; actor: string; target: string; outcome: string }[] }>(ports.a, '/api/audit?action=autoheal.&limit=100');
  assert.equal(audit.status, 200);
  const rows = audit.body.events.filter((e) => e.target.includes(pfx));
  assert.ok(rows.some((e) => e.action === 'autoheal.restart' && e.outcome === 'ok' && e.target.endsWith(names.heal) && e.actor === 'autoheal'));
  assert.equal(rows.filter((e) => e.action === 'autoheal.gave_up').length, 1);
  assert.ok(!rows.some((e) => e.target.endsWith(names.bystander)));
});

test('a silenced alert is recorded, listed as silenced and not notified; expiring the silence notifies it; an acknowledgement stops reminders', { timeout: 120_000 }, async () => {
  // Field errors first: nothing is stored.
  const bad = await api<{ field: string }>(ports.b, '/api/silences', { method: 'POST', body: JSON.stringify({
    matchers: [{ name: 'container', value: names.quiet }], starts_at: '+2h', ends_at: '+1h', comment: 'wrong way round' }) });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.field, 'ends_at');
  const created = await api<{ id: string; status: string; createdBy: string }>(ports.b, '/api/silences', { method: 'POST', body: JSON.stringify({
    matchers: [{ name: 'container', op: '=', value: `${pfx}-qu*` }, { name: 'alertname', value: 'unhealthy' }], duration: '1h', comment: 'maintenance' }) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.createdBy, 'admin');
  await sleep(2500); // replica A re-reads silences every 2 s

  await docker('run', '-d', '--name', names.quiet, '--network', 'none', ...health('false'), IMAGE, 'sleep', '3600');
  type Active = { alerts: { id: string; ruleId: string; containerName: string; silenced_by: string[]; acknowledged: { by: string } | null }[] };
  const active = await waitFor('the quiet container alert is listed as silenced', async () => {
    const r = await api<Active>(ports.a, '/api/alerts/active');
    return r.body.alerts.find((a) => a.containerName === names.quiet && a.ruleId === 'unhealthy' && a.silenced_by.includes(created.body.id));
  }, 30_000, 500);
  // The replica that claimed the transition records it (replicas here have their own embedded stores).
  const stored = await Promise.all([ports.a, ports.b].map((p) => api<{ alerts: { id: string }[] }>(p, '/api/alerts?state=firing')));
  assert.ok(stored.some((r) => r.body.alerts.some((a) => a.id === active.id)), 'recorded in the history');
  await sleep(5000); // longer than a reminder interval
  assert.equal(alertHooks(names.quiet, 'unhealthy').length, 0, 'not notified while silenced, reminders neither');

  const expired = await api<{ status: string }>(ports.a, `/api/silences/${created.body.id}`, { method: 'DELETE' });
  assert.equal(expired.body.status, 'expired');
  await waitFor('notified once the silence ended while it still fires', () => alertHooks(names.quiet, 'unhealthy', 'firing')[0], 20_000);

  // Reminders every 3 s until acknowledged.
  await waitFor('a reminder', () => alertHooks(names.quiet, 'unhealthy', 'firing').find((h) => h.alert!.message.startsWith('still firing')), 20_000);
  const ack = await api<{ by: string }>(ports.a, `/api/alerts/${encodeURIComponent(active.id)}/ack`, { method: 'POST', body: JSON.stringify({ comment: 'on it' }) });
  assert.equal(ack.status, 200, JSON.stringify(ack.body));
  assert.equal(ack.body.by, 'admin');
  await sleep(1500); // a reminder already in flight may still land
  const count = alertHooks(names.quiet, 'unhealthy', 'firing').length;
  await sleep(8000);
  assert.equal(alertHooks(names.quiet, 'unhealthy', 'firing').length, count, 'no reminders after the acknowledgement');
  const shown = await api<Active>(ports.b, '/api/alerts/active');
  assert.equal(shown.body.alerts.find((a) => a.id === active.id)?.acknowledged?.by, 'admin');

  // Silences survive a replica restart (they live in Redis, shared).
  await procs[1]!.stop('SIGTERM');
  const b2 = startB();
  procs.push(b2);
  await b2.waitFor(/"msg":"server started"/);
  const list = await api<{ silences: { id: string; status: string; comment: string }[] }>(ports.b, '/api/silences?state=expired');
  assert.equal(list.body.silences.find((s) => s.id === created.body.id)?.comment, 'maintenance');

  const audit = await api<{ events: { action: string; actor: string; target: string }[] }>(ports.b, '/api/audit?limit=500');
  const actions = audit.body.events.filter((e) => e.actor === 'admin').map((e) => `${e.action} ${e.target}`);
  assert.ok(actions.includes(`silence.create ${created.body.id}`), actions.join('\n'));
  assert.ok(actions.includes(`silence.expire ${created.body.id}`));
  assert.ok(actions.includes(`alert.ack ${active.id}`));
  for (const verb of ['PUT', 'PATCH', 'DELETE']) {
    const r = await fetch(`http://127.0.0.1:${ports.a}/api/audit`, { method: verb, headers: { authorization: `Bearer ${token}` } });
    assert.ok(r.status === 404 || r.status === 405, `${verb} /api/audit is ${r.status}`);
  }
});
