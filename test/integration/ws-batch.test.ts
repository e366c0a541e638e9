// /ws?batch=1 on the real buildApp over a real socket: one {type:'samples'} message per host per
// round (snapshot and live) with the filters applied, existing clients (no batch) still one
// {type:'sample'} per container, a bad value refused, and the backpressure guard dropping whole
// batched messages for a client that does not read.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { WebSocket } from 'ws';
import { compileSubscriptionFilter } from '../../src/application/subscription-filter.js';
import type { MetricBatch } from '../../src/domain/types.js';
import { buildApp, type WsFilterQuery } from '../../src/infrastructure/http/app.js';
import { createMemoryBus } from '../../src/infrastructure/memory/bus.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { batch, container } from '../helpers/grpc-fixtures.js';

type Msg = { type: string; host?: string; agent_id?: string; container?: { id: string; name: string }; containers?: { id: string; name: string; host: string }[]; action?: string };

let app: FastifyInstance;
let base: string;
let dropped = 0;
const latest = createMemoryLatestStore();
const bus = createMemoryBus();
let seq = 0;

const round = (agent: string, names: string[], over: Partial<MetricBatch> = {}): MetricBatch =>
  batch(agent, ++seq, { containers: names.map((n) => container(`${agent}-${n}`, { name: `${agent}-${n}`, labels: { tier: n === 'db' ? 'db' : 'app' } })), ...over });

before(async () => {
  app = await buildApp({
    logger: pino({ level: 'silent' }),
    latest,
    bus,
    health: () => ({ status: 'ok', components: {} }),
    webDir: resolve('web'),
    chartJsFile: resolve('node_modules/chart.js/dist/chart.umd.js'),
    compileFilter: (q: WsFilterQuery) => {
      const list = (v?: string) => (v ? v.split(',') : []);
      const f = compileSubscriptionFilter({ hosts: list(q.host), containerIds: list(q.id), names: list(q.name), labels: list(q.label) },
        { hosts: 'host', containerIds: 'id', names: 'name', labels: 'label' });
      return (c) => f.matchesContainer(c);
    },
    wsMaxBufferedBytes: 64 * 1024,
    onWsDropped: (n) => { dropped = n; },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  // The snapshot: two hosts of three containers.
  latest.apply(round('ag1', ['web', 'api', 'db']));
  latest.apply(round('ag2', ['web', 'api', 'db']));
});

after(async () => { await app?.close(); });

interface Client { ws: WebSocket; msgs: Msg[]; until(pred: (m: Msg) => boolean, what: string): Promise<void>; close(): void }

async function connect(query: string): Promise<Client> {
  const ws = new WebSocket(`${base}/ws${query}`);
  const msgs: Msg[] = [];
  const waiters: { pred: (m: Msg) => boolean; done: () => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as Msg;
    msgs.push(m);
    for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.done(); }
  });
  await new Promise<void>((ok, fail) => { ws.once('open', () => ok()); ws.once('error', fail); });
  return {
    ws, msgs,
    until: (pred, what) => (msgs.some(pred) ? Promise.resolve() : new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`timed out waiting for ${what}; got ${msgs.map((m) => m.type).join(',')}`)), 5000);
      waiters.push({ pred, done: () => { clearTimeout(t); ok(); } });
    })),
    close: () => ws.close(),
  };
}

const isSamples = (host: string) => (m: Msg) => m.type === 'samples' && m.host === host;
const sampleIds = (msgs: Msg[]) => msgs.filter((m) => m.type === 'sample').map((m) => m.container!.id).sort();

test('/ws?batch=1: the snapshot is one samples message per host; without batch, one sample message per container', async () => {
  const batched = await connect('?batch=1');
  const old = await connect('');
  await batched.until(isSamples('ag2-host'), 'the snapshot of ag2');
  await old.until((m) => m.type === 'sample' && m.container!.id === 'ag2-db', 'the last snapshot sample');
  const snap = batched.msgs.filter((m) => m.type === 'samples');
  assert.deepEqual(snap.map((m) => [m.host, m.agent_id, m.containers!.map((c) => c.id).sort()]), [
    ['ag1-host', 'ag1', ['ag1-api', 'ag1-db', 'ag1-web']],
    ['ag2-host', 'ag2', ['ag2-api', 'ag2-db', 'ag2-web']],
  ]);
  assert.equal(batched.msgs.filter((m) => m.type === 'sample').length, 0, 'a batched client gets no per-sample messages');
  // Each item has the shape of GET /api/containers (host included).
  assert.equal(snap[0]!.containers![0]!.host, 'ag1-host');
  assert.deepEqual(sampleIds(old.msgs), ['ag1-api', 'ag1-db', 'ag1-web', 'ag2-api', 'ag2-db', 'ag2-web']);
  assert.equal(old.msgs.filter((m) => m.type === 'samples').length, 0, 'an existing client gets no batched messages');
  batched.close();
  old.close();
});

test('/ws?batch=1 live: one samples message per host per round, host and event messages unchanged, old clients per sample', async () => {
  const batched = await connect('?batch=1');
  const old = await connect('?batch=0');
  await batched.until(isSamples('ag2-host'), 'snapshot');
  await old.until((m) => m.type === 'sample' && m.container!.id === 'ag2-db', 'snapshot');
  const from = { b: batched.msgs.length, o: old.msgs.length };
  const names = Array.from({ length: 100 }, (_, i) => `svc${i}`);
  await bus.publish(round('ag1', names, {
    events: [{ containerId: 'ag1-svc1', containerName: 'ag1-svc1', action: 'die', timestampMs: Date.now(), exitCode: 1, health: '', attributes: {} }],
  }));
  await bus.publish(round('ag2', ['marker']));
  await batched.until((m) => m.type === 'samples' && m.containers!.some((c) => c.id === 'ag2-marker'), 'the marker round');
  await old.until((m) => m.type === 'sample' && m.container!.id === 'ag2-marker', 'the marker round');
  const live = batched.msgs.slice(from.b);
  assert.deepEqual(live.map((m) => `${m.type}:${m.host}`), ['host:ag1-host', 'samples:ag1-host', 'event:ag1-host', 'host:ag2-host', 'samples:ag2-host']);
  assert.equal(live[1]!.containers!.length, 100);
  assert.deepEqual(live[1]!.containers!.map((c) => c.name), names.map((n) => `ag1-${n}`), 'the round in the agent\'s order');
  assert.equal(live[2]!.action, 'die');
  const oldLive = old.msgs.slice(from.o);
  assert.equal(oldLive.filter((m) => m.type === 'sample').length, 101);
  assert.equal(oldLive.filter((m) => m.type === 'samples').length, 0);
  assert.deepEqual(oldLive.filter((m) => m.type !== 'sample').map((m) => m.type), ['host', 'event', 'host']);
  batched.close();
  old.close();
});

test('/ws?batch=1 with filters: only matching containers in the message, none when nothing of the round matches', async () => {
  const byLabel = await connect('?batch=1&label=tier=db');
  const byHost = await connect('?batch=1&host=ag2-host&name=ag2-web,ag2-api');
  await byLabel.until(isSamples('ag2-host'), 'snapshot');
  await byHost.until(isSamples('ag2-host'), 'snapshot');
  assert.deepEqual(byLabel.msgs.filter((m) => m.type === 'samples').map((m) => m.containers!.map((c) => c.id)), [['ag1-db'], ['ag2-db']]);
  assert.deepEqual(byHost.msgs.filter((m) => m.type === 'samples').map((m) => m.containers!.map((c) => c.id).sort()), [['ag2-api', 'ag2-web']]);
  const from = { l: byLabel.msgs.length, h: byHost.msgs.length };
  await bus.publish(round('ag1', ['web', 'api']));
  await bus.publish(round('ag2', ['web', 'api', 'db']));
  await byLabel.until((m) => m.type === 'samples' && m.host === 'ag2-host' && byLabel.msgs.indexOf(m) >= from.l, 'ag2 live');
  await byHost.until((m) => m.type === 'samples' && byHost.msgs.indexOf(m) >= from.h, 'ag2 live');
  // ag1's round has no db: no samples message for it at all (its host message still comes).
  assert.deepEqual(byLabel.msgs.slice(from.l).map((m) => `${m.type}:${m.host}:${(m.containers ?? []).map((c) => c.id).join(',')}`),
    ['host:ag1-host:', 'host:ag2-host:', 'samples:ag2-host:ag2-db']);
  assert.deepEqual(byHost.msgs.slice(from.h).filter((m) => m.type === 'samples').map((m) => m.containers!.map((c) => c.id).sort()), [['ag2-api', 'ag2-web']]);
  byLabel.close();
  byHost.close();
});

test('/ws?batch= other than 0 or 1 is refused before the upgrade, naming the parameter', async () => {
  const ws = new WebSocket(`${base}/ws?batch=yes`);
  const refused = await new Promise<{ status: number; body: string }>((ok, fail) => {
    ws.once('open', () => fail(new Error('upgraded')));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += String(d); });
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
  });
  ws.on('error', () => undefined);
  assert.equal(refused.status, 400);
  assert.match(refused.body, /batch/);
});

test('/ws?batch=1 backpressure: a client that does not read loses whole messages; the server stays bounded', async () => {
  const slow = await connect('?batch=1');
  await slow.until(isSamples('ag2-host'), 'snapshot');
  // Stop reading: the kernel buffers fill, then the server's bufferedAmount passes the 64 KiB guard.
  (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const before = dropped;
  const names = Array.from({ length: 100 }, (_, i) => `big${i}`);
  for (let i = 0; i < 400; i++) {
    await bus.publish(round('ag1', names));
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(dropped > before, `messages dropped for the slow client (${dropped - before})`);
  // Reading again: what arrives are whole, parseable messages (connect() parses every one).
  const got = slow.msgs.length;
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  // Once the backlog is read, new rounds get through again.
  const arrived = () => slow.msgs.some((m) => m.type === 'samples' && m.containers!.some((c) => c.id === 'ag2-after'));
  for (let i = 0; i < 50 && !arrived(); i++) {
    await bus.publish(round('ag2', ['after']));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(arrived(), 'a round after the drops arrives');
  const samples = slow.msgs.slice(got).filter((m) => m.type === 'samples' && m.host === 'ag1-host');
  assert.ok(samples.length < 400, `${samples.length} of 400 rounds delivered`);
  assert.ok(samples.every((m) => m.containers!.length === 100), 'no partial batch');
  slow.close();
});
