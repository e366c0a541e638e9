// The agent side wired as the agent's composition root will wire it: agent loop -> agent stream
// -> real gRPC server -> ingest -> live subscriber. Collection is generated (no Docker needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAgentLoop } from '../../src/application/agent-loop.js';
import { createAgentStream } from '../../src/infrastructure/grpc/agent-client.js';
import type { ContainerEvent, ContainerSample } from '../../src/domain/types.js';
import { container, hostSample, testLogger, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer } from '../helpers/grpc-server.js';

test('periodic batches and an event-driven batch reach a subscriber; stop and close lose nothing', async () => {
  const h = await startServer();
  const sc = rawClient(h.address);
  const sub = collect(sc.SubscribeToMetrics({ names: ['app-*'] }));
  await waitFor(() => h.server.stats().subscribers === 1);

  let containers: ContainerSample[] = [container('id-1', { name: 'app-1' }), container('id-2', { name: 'other' })];
  let emit: ((e: ContainerEvent) => void) | null = null;
  const log = testLogger();
  const stream = createAgentStream({ address: h.address, log, backoff: { initialMs: 50, maxMs: 200 } });
  const loop = runAgentLoop({
    collect: async () => ({ host: hostSample(), containers: containers.map((c) => ({ ...c, timestampMs: Date.now() })) }),
    watchEvents: (cb) => { emit = cb; return () => { emit = null; }; },
    send: (b) => stream.send(b),
    agentId: 'pipe-agent', hostname: 'pipe-host', intervalMs: 200, clock: Date.now, log, debounceMs: 20,
  });
  await waitFor(() => sub.items.length >= 2, 10_000, 'periodic batches');
  assert.ok(sub.items.every((m) => m.containers.length === 1 && m.containers[0].name === 'app-1'));

  containers = [...containers, container('id-3', { name: 'app-new' })];
  emit!({ containerId: 'id-3', containerName: 'app-new', action: 'start', timestampMs: Date.now(), exitCode: 0, health: '', attributes: {} });
  await waitFor(() => sub.items.some((m) => m.events.length === 1), 10_000, 'event batch');
  const evMsg = sub.items.find((m) => m.events.length === 1);
  assert.equal(evMsg.events[0].action, 'start');
  assert.deepEqual(evMsg.containers.map((c: any) => c.name).sort(), ['app-1', 'app-new']);

  await loop.stop();
  await stream.close(5000);
  assert.equal(stream.stats().queued, 0, 'every batch acked before close returned');
  const seqs = h.written.map((b) => b.sequence);
  assert.equal(seqs.length, stream.stats().acked);
  assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), 'consecutive sequences');
  assert.ok(seqs[0]! > 1_600_000_000_000, 'numbering starts at the agent start time');
  assert.deepEqual(h.latest.containers().map((c) => c.id).sort(), ['id-1', 'id-2', 'id-3']);
  sc.close();
  await h.server.close(1000);
});
