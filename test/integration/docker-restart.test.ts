// The Docker runtime's restartContainer (autoheal) against the real Engine, the agent's
// command handler on top of it, and the whole agent (startAgent) taking a command from a
// real gRPC server: the container really restarts, the result comes back in a batch at once
// (not at the next interval); an unknown id fails clearly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../../src/application/ports.js';
import { isAppError } from '../../src/application/errors.js';
import { createCommandHandler } from '../../src/application/agent-commands.js';
import { commandResultFromEvent } from '../../src/domain/agent-commands.js';
import type { ContainerEvent } from '../../src/domain/types.js';
import { createDockerRuntime } from '../../src/infrastructure/docker/runtime.js';
import { startAgent } from '../../src/agent/main.js';
import { loadAgentConfig } from '../../src/config/config.js';
import { AUTOHEAL_EVENT_ACTION } from '../../src/domain/control.js';
import { startServer } from '../helpers/grpc-server.js';
import { requireEnv } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

const DOCKER_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
const PREFIX = `restart-it-${process.pid}`;
const run = promisify(execFile);
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { env: { ...process.env, DOCKER_HOST }, timeout: 60_000 });
  return stdout.trim();
}

const startedAt = (id: string): Promise<string> => docker('inspect', '-f', '{{.State.StartedAt}}', id);

after(async () => {
  const ids = await docker('ps', '-aq', '--filter', `name=${PREFIX}`);
  if (ids) await docker('rm', '-f', ...ids.split('\n'));
});

test('restartContainer restarts a real container: StartedAt changes, it runs again, and the Engine saw a restart', async () => {
  const runtime = createDockerRuntime({ dockerHost: DOCKER_HOST, log: silent });
  const events: ContainerEvent[] = [];
  const stop = runtime.watchEvents((e) => events.push(e));
  try {
    // trap: sleep in the background so the TERM of the restart ends it at once (t=5 would otherwise be waited out).
    const id = await docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--name', `${PREFIX}-ok`, IMAGE,
      'sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait');
    const before = await startedAt(id);
    await new Promise((r) => setTimeout(r, 1100)); // StartedAt has ns resolution, but make the change unmistakable
    await runtime.restartContainer!(id, 5);
    const afterRestart = await startedAt(id);
    assert.notEqual(afterRestart, before, 'StartedAt changed');
    assert.ok(Date.parse(afterRestart) > Date.parse(before));
    assert.equal(await docker('inspect', '-f', '{{.State.Running}}', id), 'true');
    await waitFor('restart event', () => (events.some((e) => e.containerId === id && e.action === 'restart') ? true : undefined), 10_000);
  } finally {
    stop();
    runtime.close();
  }
});

test('an unknown container id fails with "no such container" (NOT_FOUND)', async () => {
  const runtime = createDockerRuntime({ dockerHost: DOCKER_HOST, log: silent });
  try {
    const bogus = `${PREFIX}-does-not-exist`;
    await assert.rejects(runtime.restartContainer!(bogus, 1), (err: unknown) => {
      assert.ok(isAppError(err) && err.code === 'NOT_FOUND', String(err));
      assert.equal((err as Error).message, `no such container: ${bogus}`);
      return true;
    });
  } finally {
    runtime.close();
  }
});

test('the command handler over the real runtime: restarted for a real container, failed with the Engine message for a gone one', async () => {
  const runtime = createDockerRuntime({ dockerHost: DOCKER_HOST, log: silent });
  const reported: ContainerEvent[] = [];
  const handle = createCommandHandler({
    restart: runtime.restartContainer?.bind(runtime), enabled: true, log: silent, report: (e) => reported.push(e), clock: Date.now,
  });
  try {
    const id = await docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--name', `${PREFIX}-handler`, IMAGE,
      'sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait');
    const before = await startedAt(id);
    await handle({ id: 'it-1', kind: 'restart', containerId: id, containerName: `${PREFIX}-handler`, timeoutSec: 5, reason: 'test' });
    assert.notEqual(await startedAt(id), before, 'the handler really restarted it');
    await docker('rm', '-f', id);
    await handle({ id: 'it-2', kind: 'restart', containerId: id, containerName: `${PREFIX}-handler`, timeoutSec: 5, reason: 'test' });
    const [ok, gone] = reported.map(commandResultFromEvent);
    assert.equal(ok?.outcome, 'restarted', JSON.stringify(ok));
    assert.equal(gone?.outcome, 'failed');
    assert.equal(gone?.error, `no such container: ${id}`);
    assert.equal(reported[0]!.containerName, `${PREFIX}-handler`);
  } finally {
    runtime.close();
  }
});

test('the whole agent: a command from the server restarts the container and the result arrives in a batch long before the next interval', async () => {
  const h = await startServer();
  const id = await docker('run', '-d', '--network', 'none', '--label', 'dockwatch.test=1', '--name', `${PREFIX}-agent`, IMAGE,
    'sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait');
  const before = await startedAt(id);
  const cfg = loadAgentConfig({ SERVER_ADDR: h.address, DOCKER_HOST, AGENT_ID: `${PREFIX}-agent`, HOST_NAME: 'restart-it', COLLECT_INTERVAL: '60s' });
  const agent = await startAgent(cfg, silent);
  try {
    await waitFor('first batch', () => (h.written.length > 0 ? true : undefined), 20_000);
    await waitFor('stream known', () => (h.server.sendCommand(cfg.agentId, {
      id: 'e2e-1', kind: 'restart', containerId: id, containerName: `${PREFIX}-agent`, timeoutSec: 5, reason: 'test',
    }) ? true : undefined), 10_000);
    const sentAt = Date.now();
    const ev = await waitFor('result event', () => h.written.flatMap((b) => b.events)
      .find((e) => e.action === AUTOHEAL_EVENT_ACTION && e.attributes.command_id === 'e2e-1'), 20_000);
    assert.ok(Date.now() - sentAt < 10_000, 'well before the 60 s interval');
    const result = commandResultFromEvent(ev);
    assert.deepEqual(result && { ...result, durationMs: 0 }, { commandId: 'e2e-1', containerId: id, outcome: 'restarted', durationMs: 0 });
    assert.ok(result!.durationMs > 0);
    assert.equal(ev.containerName, `${PREFIX}-agent`);
    assert.notEqual(await startedAt(id), before, 'restarted');
    assert.equal(agent.stats().rejected, 0, 'the command was not taken for an ack');
  } finally {
    await agent.stop();
    await h.server.close(500);
  }
});
