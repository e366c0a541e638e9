// A store slower than the agents (issue 16: the embedded store's ceiling): the server does not
// fall behind silently. Its in-flight budget fills, flow control holds the agents back (they keep
// their batches queued, nothing dropped), it logs one clear "ingest saturated" line, and once the
// store catches up every batch is acked and it says the saturation is over.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Harness } from '../helpers/grpc-server.js';
import { batch, testLogger, waitFor } from '../helpers/grpc-fixtures.js';
import { createAgentStream, type AgentStream } from '../../src/infrastructure/grpc/agent-client.js';

let h: Harness | undefined;
let agent: AgentStream | undefined;
after(async () => { await agent?.close(0); await h?.server.close(100); });

test('a store slower than the agents: one "ingest saturated" line, agents hold their queues, all acked once it catches up', { timeout: 30_000 }, async () => {
  let release: (() => void) | null = null;
  let gate = new Promise<void>((r) => { release = r; });
  const written: number[] = [];
  h = await startServer({
    maxInFlightSamples: 9, saturationCheckMs: 100,
    sink: { writeBatch: async (b) => { await gate; written.push(b.sequence); } },
  });
  agent = createAgentStream({ address: h.address, log: testLogger() });
  // Three samples a batch (two containers and the host): three batches fill the budget.
  for (let i = 1; i <= 20; i++) agent.send(batch('slow-agent', i));
  await waitFor(() => h!.log.records.some((r) => r.msg === 'ingest saturated: the store is slower than the agents send; acks are slowed (flow control) and agents keep their batches queued, nothing is dropped here'), 5000, 'the saturation line');
  const line = h.log.records.find((r) => /ingest saturated/.test(r.msg ?? ''))!;
  assert.equal(line.level, 'warn');
  assert.equal((line.obj as { maxInFlightSamples: number }).maxInFlightSamples, 9);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(h.log.records.filter((r) => /ingest saturated/.test(r.msg ?? '')).length, 1, 'said once, not every check');
  const s = agent.stats();
  assert.equal(s.queued, 20, 'the agent keeps every unacked batch');
  assert.equal(s.dropped, 0);
  assert.ok(h.server.stats().inFlightSamples <= 9 + 3, `server holds at most its budget: ${h.server.stats().inFlightSamples}`);

  gate = Promise.resolve();
  release!();
  await waitFor(() => agent!.stats().acked === 20, 10_000, 'every batch acked');
  assert.deepEqual([...written].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  await waitFor(() => h!.log.records.some((r) => r.msg === 'ingest no longer saturated'), 5000, 'the all-clear');
});
