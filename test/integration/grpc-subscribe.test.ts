// SubscribeToMetrics against a real server on loopback: snapshot, filters, slow subscribers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { batch, container, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const servers: Harness[] = [];
after(async () => { for (const s of servers) await s.server.close(1000); });

function agentStream(address: string) {
  const client = rawClient(address);
  const call = client.StreamMetrics();
  const res = collect(call);
  return { client, call, res };
}

const ids = (msgs: any[]) => msgs.flatMap((m) => m.containers.map((c: any) => c.id)).sort();

test('two subscribers with different filters each get only their own samples', async () => {
  const h = await startServer();
  servers.push(h);
  const sc = rawClient(h.address);
  const web = collect(sc.SubscribeToMetrics({ names: ['web-*'], labels: ['env=prod'] }));
  const hostB = collect(sc.SubscribeToMetrics({ hosts: ['host-b'], includeHost: true }));
  await waitFor(() => h.server.stats().subscribers === 2);

  const a = agentStream(h.address);
  a.call.write(metricDataToWire(batch('agent-a', 1, {
    hostname: 'host-a',
    containers: [
      container('a1', { name: 'web-1', labels: { env: 'prod' } }),
      container('a2', { name: 'web-2', labels: { env: 'dev' } }),
      container('a3', { name: 'db-1', labels: { env: 'prod' } }),
    ],
  })));
  a.call.write(metricDataToWire(batch('agent-b', 1, {
    hostname: 'host-b',
    containers: [container('b1', { name: 'web-9', labels: { env: 'prod' } }), container('b2', { name: 'cache' })],
  })));
  await waitFor(() => a.res.items.length === 2);
  await waitFor(() => ids(web.items).length === 2 && ids(hostB.items).length === 2);
  // One more batch to be sure nothing else arrives late for either.
  a.call.write(metricDataToWire(batch('agent-a', 2, { hostname: 'host-a', containers: [container('a4', { name: 'misc' })] })));
  await waitFor(() => a.res.items.length === 3);
  await new Promise((r) => setTimeout(r, 200));

  assert.deepEqual(ids(web.items), ['a1', 'b1']);
  assert.ok(web.items.every((m) => m.host === null), 'no host samples unless asked');
  assert.deepEqual(ids(hostB.items), ['b1', 'b2']);
  assert.ok(hostB.items.every((m) => m.hostname === 'host-b' && m.host !== null && m.host.numCpus === 2));
  assert.ok(web.items.every((m) => Number(m.sequence) > 0), 'live messages carry the agent sequence');
  a.call.end();
  sc.close();
});

test('a subscriber connecting after samples exist gets the snapshot first, then live', async () => {
  const h = await startServer();
  servers.push(h);
  const a = agentStream(h.address);
  a.call.write(metricDataToWire(batch('agent-a', 1, { hostname: 'host-a', containers: [container('a1', { name: 'web-1' }), container('a2', { name: 'db' })] })));
  a.call.write(metricDataToWire(batch('agent-b', 1, { hostname: 'host-b', containers: [container('b1', { name: 'web-2' })] })));
  await waitFor(() => a.res.items.length === 2);

  const sc = rawClient(h.address);
  const sub = collect(sc.SubscribeToMetrics({ names: ['web-*'], includeHost: true }));
  await waitFor(() => sub.items.length === 2);
  const snap = sub.items.slice(0, 2);
  assert.ok(snap.every((m) => Number(m.sequence) === 0 && m.complete === false), 'snapshot messages: sequence 0, not complete');
  assert.deepEqual(snap.map((m) => m.hostname).sort(), ['host-a', 'host-b'], 'one message per host');
  assert.deepEqual(ids(snap), ['a1', 'b1']);
  assert.ok(snap.every((m) => m.host && m.host.numCpus === 2), 'host sample with include_host');

  a.call.write(metricDataToWire(batch('agent-a', 2, { hostname: 'host-a', containers: [container('a1', { name: 'web-1', cpuPercent: 77 })] })));
  await waitFor(() => sub.items.length === 3);
  assert.equal(Number(sub.items[2].sequence), 2);
  assert.equal(sub.items[2].containers[0].cpuPercent, 77);
  a.call.end();
  sc.close();
});

test('a bad filter gets INVALID_ARGUMENT naming the field', async () => {
  const h = await startServer();
  servers.push(h);
  const sc = rawClient(h.address);
  const cases: [object, RegExp][] = [
    [{ labels: ['env=prod', 'tier=>web'] }, /^labels\[1\]: unknown operator/],
    [{ names: ['web-[0-9'] }, /^names\[0\]: unclosed "\["/],
    [{ containerIds: [''] }, /^container_ids\[0\]: empty/],
  ];
  for (const [req, msg] of cases) {
    const res = collect(sc.SubscribeToMetrics(req));
    const st = await res.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(req));
    assert.match(st.details, msg);
    assert.equal(res.items.length, 0);
  }
  assert.equal(h.server.stats().subscribers, 0);
  sc.close();
});

test('a slow subscriber drops (counted) without slowing ingestion; a fast one gets everything', async () => {
  const h = await startServer({ subscriberQueue: 20 });
  servers.push(h);
  const sc = rawClient(h.address);
  const slowCall = sc.SubscribeToMetrics({});
  const slow: any[] = [];
  let holding = true;
  slowCall.on('data', (m: any) => { slow.push(m); if (holding) slowCall.pause(); }); // reads one message, then stops reading
  slowCall.on('error', () => {});
  const fast = collect(rawClient(h.address).SubscribeToMetrics({}));
  await waitFor(() => h.server.stats().subscribers === 2);

  const a = agentStream(h.address);
  const N = 150;
  // ~60 KB per batch, so the slow subscriber's HTTP/2 window fills after a message or two.
  const containers = Array.from({ length: 40 }, (_, i) => container(`c${i}`, { labels: { pad: 'x'.repeat(1200) } }));
  // One batch per ack, like an agent that is keeping up: the fast subscriber never lags far.
  for (let seq = 1; seq <= N; seq++) {
    a.call.write(metricDataToWire(batch('agent-a', seq, { containers })));
    await waitFor(() => a.res.items.length === seq, 30_000, `ack ${seq}`);
  }
  assert.ok(a.res.items.every((r) => r.status === 'ACK'), 'ingestion acked every batch');
  await waitFor(() => fast.items.length === N, 60_000, 'fast subscriber');
  assert.deepEqual(fast.items.map((m) => Number(m.sequence)), Array.from({ length: N }, (_, i) => i + 1));

  const dropped = h.server.stats().subscriberDropped;
  assert.ok(dropped > 0, `slow subscriber dropped ${dropped}`);
  holding = false;
  slowCall.resume();
  await waitFor(() => slow.length > 0 && Number(slow[slow.length - 1].sequence) === N, 30_000, 'slow subscriber catches up');
  assert.ok(slow.length < N, `slow subscriber got ${slow.length} of ${N}`);
  assert.equal(slow.length + h.server.stats().subscriberDropped, N, 'every batch either delivered or counted as dropped');
  a.call.end();
  sc.close();
});

test('subscribers beyond the limit get RESOURCE_EXHAUSTED with a reason', async () => {
  const h = await startServer({ maxSubscribers: 2 });
  servers.push(h);
  const sc = rawClient(h.address);
  collect(sc.SubscribeToMetrics({}));
  collect(sc.SubscribeToMetrics({}));
  await waitFor(() => h.server.stats().subscribers === 2);
  const third = collect(sc.SubscribeToMetrics({}));
  const st = await third.status;
  assert.equal(st.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(st.details, /too many subscribers/);
  assert.equal(st.metadata.get('retry-after-ms')[0], '5000');
  sc.close();
});
