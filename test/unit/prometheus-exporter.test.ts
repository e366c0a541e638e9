import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createMetricsExporter } from '../../src/infrastructure/prometheus/exporter.js';
import { createMemoryLatestStore } from '../../src/infrastructure/memory/latest-store.js';
import { batch, containerSample, hostSample, parseExposition } from '../helpers/prometheus-samples.js';

const NOW = 1_800_000_000_000;

function storeWithTwoContainers() {
  const latest = createMemoryLatestStore({ clock: () => NOW });
  latest.apply(batch({
    hostname: 'node-a',
    timestampMs: NOW,
    host: hostSample({ timestampMs: NOW, cpuPercent: 37.5, load1: 1.25 }),
    containers: [
      containerSample({
        id: 'aaa111', name: 'web-1', image: 'nginx:1.25', timestampMs: NOW, startedAtMs: NOW - 60_000,
        cpuUsageNs: 2_500_000_000, memRawUsageBytes: 300, memUsageBytes: 200, memLimitBytes: 1000,
        netRxBytes: 11, netTxBytes: 22, blkReadBytes: 33, blkWriteBytes: 44, pids: 7,
        labels: { 'com.docker.compose.project': 'shop', 'quote"back\\slash': 'va"l\nue' },
      }),
      containerSample({ id: 'bbb222', name: 'db-1', image: 'postgres:16', timestampMs: NOW, cpuUsageNs: 1e9 }),
    ],
  }));
  return latest;
}

const find = (series: ReturnType<typeof parseExposition>['series'], name: string, containerName?: string) =>
  series.filter((s) => s.name === name && (containerName === undefined || s.labels.name === containerName));

test('exports cAdvisor-named container series with id, name, image, host and Docker labels', async () => {
  const exp = createMetricsExporter({ latest: storeWithTwoContainers(), now: () => NOW, processMetrics: false });
  const { series, types } = parseExposition(await exp.render());

  const cpu = find(series, 'container_cpu_usage_seconds_total', 'web-1');
  assert.equal(cpu.length, 1);
  assert.equal(cpu[0]!.value, 2.5);
  assert.equal(types.get('container_cpu_usage_seconds_total'), 'counter');
  assert.deepEqual(cpu[0]!.labels, {
    id: 'aaa111', name: 'web-1', image: 'nginx:1.25', host: 'node-a',
    container_label_com_docker_compose_project: 'shop',
    container_label_quote_back_slash: 'va"l\nue',
  });

  const want: Array<[string, number]> = [
    ['container_memory_usage_bytes', 300],
    ['container_memory_working_set_bytes', 200],
    ['container_spec_memory_limit_bytes', 1000],
    ['container_network_receive_bytes_total', 11],
    ['container_network_transmit_bytes_total', 22],
    ['container_fs_reads_bytes_total', 33],
    ['container_fs_writes_bytes_total', 44],
    ['container_processes', 7],
    ['container_last_seen', NOW / 1000],
    ['container_start_time_seconds', (NOW - 60_000) / 1000],
  ];
  for (const [name, value] of want) {
    assert.equal(find(series, name, 'web-1')[0]?.value, value, name);
  }
  assert.equal(find(series, 'container_cpu_usage_seconds_total', 'db-1')[0]?.value, 1);

  assert.equal(find(series, 'dockwatch_host_cpu_percent')[0]?.value, 37.5);
  assert.equal(find(series, 'dockwatch_host_load1')[0]?.labels.host, 'node-a');
  assert.deepEqual(find(series, 'dockwatch_host_cpu_core_percent').map((s) => [s.labels.core, s.value]), [['0', 10], ['1', 15]]);
  assert.equal(find(series, 'dockwatch_host_disk_used_bytes')[0]?.labels.mount, '/');
});

test('a removed container, a stopped one and a stale host drop out of the next scrape', async () => {
  let now = NOW;
  const latest = storeWithTwoContainers();
  const exp = createMetricsExporter({ latest, now: () => now, processMetrics: false, staleAfterMs: 60_000 });
  const names = async () => {
    const { series } = parseExposition(await exp.render());
    return [...new Set(find(series, 'container_cpu_usage_seconds_total').map((s) => s.labels.name))].sort();
  };
  assert.deepEqual(await names(), ['db-1', 'web-1']);

  // db-1 is destroyed: the next complete batch no longer lists it.
  latest.apply(batch({
    hostname: 'node-a', sequence: 2, timestampMs: NOW + 1000,
    containers: [containerSample({ id: 'aaa111', name: 'web-1', timestampMs: NOW + 1000, cpuUsageNs: 3e9 })],
  }));
  assert.deepEqual(await names(), ['web-1']);
  const text = await exp.render();
  assert.doesNotMatch(text, /bbb222/);

  // An exited container has no cgroup: like cAdvisor, it is not exported.
  latest.apply(batch({
    hostname: 'node-a', sequence: 3, timestampMs: NOW + 2000,
    containers: [containerSample({ id: 'aaa111', name: 'web-1', state: 'exited', timestampMs: NOW + 2000 })],
  }));
  assert.deepEqual(await names(), []);

  // The whole host goes quiet for longer than staleAfterMs: its host series go too.
  assert.equal(find(parseExposition(await exp.render()).series, 'dockwatch_host_cpu_percent').length, 1);
  now = NOW + 120_000;
  assert.equal(find(parseExposition(await exp.render()).series, 'dockwatch_host_cpu_percent').length, 0);
});

test('many scrapes over churning containers do not pile up series', async () => {
  const latest = createMemoryLatestStore({ clock: () => NOW });
  const exp = createMetricsExporter({ latest, now: () => NOW, processMetrics: false });
  let text = '';
  for (let round = 0; round < 50; round++) {
    latest.apply(batch({
      hostname: 'churn', sequence: round + 1, timestampMs: NOW + round,
      containers: [containerSample({ id: `c${round}`, name: `job-${round}`, timestampMs: NOW + round })],
    }));
    text = await exp.render();
  }
  const cpu = find(parseExposition(text).series, 'container_cpu_usage_seconds_total');
  assert.deepEqual(cpu.map((s) => s.labels.name), ['job-49']);
});

test('health counters and callback gauges reflect what the parts record', async () => {
  let breaker: 'closed' | 'open' | 'halfOpen' = 'open';
  const exp = createMetricsExporter({
    processMetrics: false,
    breakerState: () => breaker,
    spoolBatches: () => 12,
    wsSubscribers: () => 3,
    grpcSubscribers: () => 2,
    ingestInFlightSamples: () => 1234,
    slowSubscriberDropped: () => 5,
    channels: ['email'],
  });
  exp.record.batch('ack');
  exp.record.batch('ack');
  exp.record.batch('rejected');
  exp.record.samples(40);
  exp.record.dropped('agent_queue', 9);
  exp.record.dropped('slow_subscriber', 1);
  exp.record.alertFired();
  exp.record.notification('slack', true);
  exp.record.notification('slack', false);
  exp.record.notification('slack', false);

  const { series } = parseExposition(await exp.render());
  const value = (name: string, labels: Record<string, string> = {}) =>
    series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

  assert.equal(value('dockwatch_batches_total', { status: 'ack' }), 2);
  assert.equal(value('dockwatch_batches_total', { status: 'rejected' }), 1);
  assert.equal(value('dockwatch_batches_total', { status: 'duplicate' }), 0);
  assert.equal(value('dockwatch_ingested_samples_total'), 40);
  assert.equal(value('dockwatch_samples_dropped_total', { reason: 'agent_queue' }), 9);
  assert.equal(value('dockwatch_samples_dropped_total', { reason: 'slow_subscriber' }), 6);
  assert.equal(value('dockwatch_alerts_fired_total'), 1);
  assert.equal(value('dockwatch_notifications_total', { channel: 'slack', result: 'sent' }), 1);
  assert.equal(value('dockwatch_notifications_total', { channel: 'slack', result: 'failed' }), 2);
  assert.equal(value('dockwatch_notifications_total', { channel: 'email', result: 'sent' }), 0);
  assert.equal(value('dockwatch_store_circuit_state'), 2);
  assert.equal(value('dockwatch_spool_batches'), 12);
  assert.equal(value('dockwatch_ws_subscribers'), 3);
  assert.equal(value('dockwatch_grpc_subscribers'), 2);
  assert.equal(value('dockwatch_ingest_in_flight_samples'), 1234);
  // No agentQueue callback was given: that gauge is not invented.
  assert.equal(value('dockwatch_agent_queue_batches'), undefined);

  breaker = 'halfOpen';
  assert.equal(parseExposition(await exp.render()).series.find((s) => s.name === 'dockwatch_store_circuit_state')?.value, 1);
});

test('process metrics use the standard names unless a prefix is asked for', async () => {
  const plain = parseExposition(await createMetricsExporter({}).render()).types;
  assert.equal(plain.get('process_cpu_seconds_total'), 'counter');
  assert.ok(plain.has('nodejs_heap_size_used_bytes'));
  const prefixed = parseExposition(await createMetricsExporter({ processMetricsPrefix: 'dockwatch_' }).render()).types;
  assert.ok(prefixed.has('dockwatch_process_cpu_seconds_total'));
  assert.ok(!prefixed.has('process_cpu_seconds_total'));
});

test('promtool check metrics accepts the whole output', async () => {
  const exp = createMetricsExporter({
    latest: storeWithTwoContainers(), now: () => NOW, breakerState: () => 'closed', spoolBatches: () => 0,
  });
  exp.record.notification('webhook', true);
  const text = await exp.render();
  const promtool = process.env.TEST_PROMTOOL ?? 'promtool';
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.error, undefined, `cannot run ${promtool}: ${String(r.error)}`);
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  // promtool's lint findings (naming, units) are printed even at status 0; there must be none.
  assert.equal((r.stdout + r.stderr).trim(), '');
  assert.equal(exp.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});
