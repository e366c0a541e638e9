// The container-event part of the MetricsStore contract, run against each real store (SQLite,
// InfluxDB, InfluxDB behind the spool through an outage): batches carrying lifecycle events, with
// the answers every store must give for them.
import assert from 'node:assert/strict';
import type { EventQuery, MetricsStore, StoredContainerEvent } from '../../src/application/store-ports.js';
import type { ContainerEvent, MetricBatch } from '../../src/domain/types.js';
import { containerIds, makeBatch } from './storage-batches.js';

export interface EventFixture {
  /** Write these (in order); a store must keep each event once however often a batch comes. */
  batches: MetricBatch[];
  /** The resends an agent makes after a reconnect: the same batches again. */
  resends: MetricBatch[];
  t0: number;
  ids: { web: string; db: string; other: string };
  host: string;
  agentId: string;
}

const ev = (containerId: string, containerName: string, action: string, timestampMs: number, exitCode = 0, health = ''): ContainerEvent =>
  ({ containerId, containerName, action, timestampMs, exitCode, health, attributes: { name: containerName, image: 'busybox' } });

/** Three containers on two hosts; `web` is OOM-killed and restarted, `db` turns healthy and stops. */
export function eventFixture(tag: string, t0: number): EventFixture {
  const [web, db, other] = containerIds(`ev${tag}`, 3) as [string, string, string];
  const host = `host-ev-${tag}`;
  const agentId = `agent-ev-${tag}`;
  // A name that line protocol and SQL must escape.
  const webName = 'web "a", b=c';
  const b = (i: number, events: ContainerEvent[], hostname = host, agent = agentId, ids = [web, db]): MetricBatch =>
    ({ ...makeBatch(agent, hostname, ids, t0 + i * 1000, i), events });
  const batches = [
    b(0, [ev(web, webName, 'start', t0 + 100), ev(db, 'db', 'start', t0 + 200)]),
    b(1, [ev(db, 'db', 'health_status', t0 + 1500, 0, 'healthy')]),
    b(2, []),
    b(3, [ev(web, webName, 'oom', t0 + 3400), ev(web, webName, 'die', t0 + 3401, 137)]),
    b(4, [ev(web, webName, 'start', t0 + 4200), ev(web, webName, 'restart', t0 + 4201)]),
    b(5, [ev(db, 'db', 'die', t0 + 5300, 0)]),
    b(5, [ev(other, 'other', 'start', t0 + 5500)], `host-ev-${tag}-2`, `agent-ev-${tag}-2`, [other]),
  ];
  return { batches, resends: [batches[3]!, batches[4]!, batches[3]!], t0, ids: { web, db, other }, host, agentId };
}

const stored = (batch: MetricBatch): StoredContainerEvent[] =>
  batch.events.map(({ attributes: _a, ...e }) => ({ ...e, host: batch.hostname }));

/** What each query must answer, in order (oldest first). */
export async function checkStoredEvents(store: Pick<MetricsStore, 'queryEvents' | 'queryContainer'>, f: EventFixture): Promise<void> {
  const all = f.batches.flatMap(stored).sort((a, b) => a.timestampMs - b.timestampMs);
  const range = { fromMs: f.t0, toMs: f.t0 + 10_000, limit: 100 };
  const query = (q: Partial<EventQuery>): Promise<StoredContainerEvent[]> => store.queryEvents({ ...range, ...q });

  assert.deepEqual(await query({ containerId: f.ids.web }), all.filter((e) => e.containerId === f.ids.web),
    'one container: every event once (resends not doubled), names, exit codes, hosts kept');
  assert.deepEqual((await query({ containerId: f.ids.db })).map((e) => [e.action, e.health, e.exitCode]),
    [['start', '', 0], ['health_status', 'healthy', 0], ['die', '', 0]]);
  assert.deepEqual((await query({ containerId: f.ids.web, actions: ['oom', 'die'] })).map((e) => [e.action, e.exitCode]),
    [['oom', 0], ['die', 137]]);
  assert.deepEqual(await query({ containerId: f.ids.web, actions: [] }), []);
  assert.deepEqual((await query({ containerId: f.ids.web, fromMs: f.t0 + 3401, toMs: f.t0 + 4200 })).map((e) => e.action), ['die', 'start'],
    'from and to are inclusive');
  assert.deepEqual((await query({ containerId: f.ids.web, limit: 2 })).map((e) => e.action), ['start', 'oom'], 'the oldest first');
  assert.deepEqual(await query({ containerId: 'nope' }), []);

  const ofHost = all.filter((e) => e.host === f.host);
  assert.deepEqual((await query({ host: f.host })).map((e) => `${e.containerId}/${e.action}`), ofHost.map((e) => `${e.containerId}/${e.action}`),
    'a host: its containers\' events, not the other host\'s');
  assert.deepEqual((await query({ host: f.agentId })).length, ofHost.length, 'a host by its agent id');
  assert.deepEqual((await query({ host: `${f.host}-2` })).map((e) => e.containerId), [f.ids.other]);

  // The samples of the batches that carried events are all there too.
  const points = await store.queryContainer({ containerId: f.ids.web, fromMs: f.t0, toMs: f.t0 + 10_000, stepMs: 1000 });
  assert.equal(points.length, 6);
}
