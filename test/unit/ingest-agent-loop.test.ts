import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAgentLoop, type CollectedSnapshot } from '../../src/application/agent-loop.js';
import type { ContainerEvent, MetricBatch } from '../../src/domain/types.js';
import { container, hostSample, testLogger, waitFor } from '../helpers/grpc-fixtures.js';

const ev = (id: string, action: string): ContainerEvent =>
  ({ containerId: id, containerName: id, action, timestampMs: Date.now(), exitCode: 0, health: '', attributes: {} });

test('sequences start at the clock and increase by one; batches are complete', async () => {
  const sent: MetricBatch[] = [];
  const loop = runAgentLoop({
    collect: async () => ({ host: hostSample(), containers: [container('a')] }),
    send: (b) => sent.push(b), agentId: 'ag', hostname: 'hn', intervalMs: 20, clock: () => 1_700_000_000_000, log: testLogger(),
  });
  await waitFor(() => sent.length >= 3);
  await loop.stop();
  const n = sent.length;
  assert.deepEqual(sent.map((b) => b.sequence), Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i));
  assert.ok(sent.every((b) => b.complete && b.agentId === 'ag' && b.hostname === 'hn' && b.intervalMs === 20));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(sent.length, n, 'nothing after stop()');
});

test('ticks never overlap a running collection', async () => {
  let active = 0;
  let maxActive = 0;
  let release: (() => void) | null = null;
  const sent: MetricBatch[] = [];
  const loop = runAgentLoop({
    collect: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => { release = r; });
      active--;
      return { host: null, containers: [] };
    },
    send: (b) => sent.push(b), agentId: 'a', hostname: 'h', intervalMs: 5, clock: Date.now, log: testLogger(),
  });
  await waitFor(() => loop.stats().skippedTicks >= 3);
  release!();
  await waitFor(() => sent.length >= 1);
  await waitFor(() => release !== null && active === 1);
  const stopping = loop.stop();
  release!();
  await stopping;
  assert.equal(maxActive, 1);
});

test('an event burst triggers one early collection carrying all events', async () => {
  const sent: MetricBatch[] = [];
  let emit: ((e: ContainerEvent) => void) | null = null;
  let collections = 0;
  const loop = runAgentLoop({
    collect: async (): Promise<CollectedSnapshot> => { collections++; return { host: hostSample(), containers: [container('x')] }; },
    watchEvents: (cb) => { emit = cb; return () => { emit = null; }; },
    send: (b) => sent.push(b), agentId: 'a', hostname: 'h', intervalMs: 60_000, clock: Date.now, log: testLogger(),
    debounceMs: 30,
  });
  await waitFor(() => sent.length === 1); // the first, immediate collection
  emit!(ev('x', 'kill'));
  emit!(ev('x', 'die'));
  emit!(ev('x', 'stop'));
  await waitFor(() => sent.length === 2);
  assert.deepEqual(sent[1]!.events.map((e) => e.action), ['kill', 'die', 'stop']);
  assert.equal(sent[1]!.complete, true);
  assert.equal(collections, 2);
  await loop.stop();
  assert.equal(emit, null, 'event watch stopped');
});

test('without a container runtime the batch is not complete; failed collections keep events', async () => {
  const sent: MetricBatch[] = [];
  let fail = true;
  let emit: ((e: ContainerEvent) => void) | null = null;
  const log = testLogger();
  const loop = runAgentLoop({
    collect: async () => {
      if (fail) { fail = false; throw new Error('docker gone'); }
      return { host: hostSample({ runtimeAvailable: false }), containers: [] };
    },
    watchEvents: (cb) => { emit = cb; return () => {}; },
    send: (b) => sent.push(b), agentId: 'a', hostname: 'h', intervalMs: 60_000, clock: Date.now, log, debounceMs: 10,
  });
  await waitFor(() => loop.stats().failedCollections === 1);
  emit!(ev('q', 'oom'));
  await waitFor(() => sent.length === 1);
  assert.equal(sent[0]!.complete, false);
  assert.deepEqual(sent[0]!.events.map((e) => e.action), ['oom']);
  assert.ok(log.records.some((r) => r.level === 'warn' && r.msg === 'collection failed'));
  await loop.stop();
});

test('runtimeAvailable from the collector wins over the host sample', async () => {
  const sent: MetricBatch[] = [];
  const loop = runAgentLoop({
    collect: async () => ({ host: null, containers: [], runtimeAvailable: false }),
    send: (b) => sent.push(b), agentId: 'a', hostname: 'h', intervalMs: 60_000, clock: Date.now, log: testLogger(),
  });
  await waitFor(() => sent.length === 1);
  await loop.stop();
  assert.equal(sent[0]!.complete, false);
});
