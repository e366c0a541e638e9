// Remote engines over TLS (issue 13, item 3), against a real dockerd started here with --tlsverify
// on 127.0.0.1 and certificates made here by openssl (test/helpers/docker-tls.ts):
//   - the whole agent (loadAgentConfig + startAgent, DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
//     as a user sets them) streams to a real gRPC server: it lists and inspects the engine's
//     containers, follows its events (a container started later shows up, with its start event),
//     and every sample comes from the Engine API (source engine-api) although this machine's /sys
//     has these very containers' cgroups: the cgroup reader is off for a tcp:// engine. No host
//     sample (this /proc is not the engine's host), and the host is named after DOCKER_HOST;
//   - the API's container shape carries that source;
//   - a CA that did not sign the daemon's certificate: one clear log line, and the agent keeps
//     running and sending (empty) batches;
//   - the built CLI with a cert.pem missing exits 2 naming DOCKER_CERT_PATH and the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from '../../src/agent/main.js';
import { loadAgentConfig } from '../../src/config/config.js';
import { presentContainer } from '../../src/infrastructure/http/present.js';
import type { ContainerSample, MetricBatch } from '../../src/domain/types.js';
import { requireEnv } from '../helpers/env.js';
import { startServer } from '../helpers/grpc-server.js';
import { testLogger } from '../helpers/grpc-fixtures.js';
import { startTlsDockerd, type TlsDockerd } from '../helpers/docker-tls.js';
import { freePort, runCli, tempDir } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait.js';

const SOURCE_HOST = requireEnv('TEST_DOCKER_HOST');
const IMAGE = requireEnv('TEST_DOCKER_IMAGE');
let d: TlsDockerd;

before(async () => {
  d = await startTlsDockerd({ sourceDockerHost: SOURCE_HOST, image: IMAGE });
}, { timeout: 180_000 });
after(async () => { await d?.stop(); }, { timeout: 60_000 });

const samplesOf = (written: MetricBatch[], id: string): ContainerSample[] =>
  written.flatMap((b) => b.containers.filter((c) => c.id === id));

test('the agent over TLS: list, inspect, events, stats from the Engine API with source engine-api, no host sample', { timeout: 120_000 }, async () => {
  // 8 MiB in /dev/shm is charged to the container's memory: a figure the Engine API must report.
  const before = await d.docker('run', '-d', '--network', 'none', '--name', 'tls-before', IMAGE,
    'sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=8 2>/dev/null; while :; do sleep 1; done');
  const h = await startServer();
  const log = testLogger();
  // HOME: no ~/.docker of this machine may leak in; everything comes from DOCKER_CERT_PATH.
  const cfg = loadAgentConfig({ ...d.env, HOME: '/nonexistent', SERVER_ADDR: h.address, AGENT_ID: 'tls-agent', COLLECT_INTERVAL: '1s' });
  assert.equal(cfg.dockerRemote, true);
  assert.equal(cfg.dockerTls?.verify, true);
  assert.equal(cfg.hostname, '127.0.0.1', 'a remote engine names the host after DOCKER_HOST');
  const agent = await startAgent(cfg, log);
  try {
    const first = await waitFor('a sample of the first container with stats', () =>
      samplesOf(h.written, before).find((s) => s.source === 'engine-api' && s.memUsageBytes > 4 * 1024 * 1024 && s.cpuUsageNs > 0), 30_000);
    assert.equal(first.name.replace(/^\//, ''), 'tls-before');
    assert.equal(first.state, 'running');
    assert.equal(first.image, IMAGE);
    assert.ok(first.pids >= 1, `pids ${first.pids}`);

    // Started after the agent: the event stream over TLS brings it.
    const later = await d.docker('run', '-d', '--network', 'none', '--name', 'tls-later', IMAGE, 'sh', '-c', 'while :; do sleep 1; done');
    await waitFor('the start event of the later container', () =>
      h.written.flatMap((b) => b.events).find((e) => e.containerId === later && e.action === 'start'), 30_000);
    const laterSample = await waitFor('a sample of the later container', () =>
      samplesOf(h.written, later).find((s) => s.source === 'engine-api' && s.cpuUsageNs > 0), 30_000);

    // Every running container's sample came from the Engine API, never from this machine's /sys
    // (which has these containers' cgroups: the cgroup reader would have answered 'cgroup').
    const sources = new Set(h.written.flatMap((b) => b.containers).filter((c) => c.state === 'running').map((c) => c.source));
    assert.deepEqual([...sources], ['engine-api']);
    assert.ok(h.written.every((b) => b.host === null), 'no host sample from this machine for a remote engine');
    assert.ok(h.written.every((b) => b.hostname === '127.0.0.1'));
    assert.ok(log.records.some((r) => /^remote engine: container stats from the Engine API/.test(String(r.msg))), 'remote mode is logged');
    assert.ok(!log.records.some((r) => /BEGIN (CERTIFICATE|PRIVATE KEY|RSA)/.test(JSON.stringify(r))), 'no key material in the log');

    // GET /api/containers' shape says where the numbers came from.
    assert.equal(presentContainer({ ...laterSample, host: '127.0.0.1', agentId: 'tls-agent' }).source, 'engine-api');
  } finally {
    await agent.stop();
    await h.server.close(1000);
  }
});

test('a CA that did not sign the daemon\'s certificate: one clear error, the agent keeps running', { timeout: 60_000 }, async () => {
  const h = await startServer();
  const log = testLogger();
  const cfg = loadAgentConfig({ ...d.env, DOCKER_CERT_PATH: d.certs.wrongCaDir, HOME: '/nonexistent', SERVER_ADDR: h.address, AGENT_ID: 'tls-wrong-ca', COLLECT_INTERVAL: '1s' });
  const agent = await startAgent(cfg, log);
  try {
    await waitFor('four batches', () => (h.written.length >= 4 ? true : undefined), 30_000);
    const unreachable = log.records.filter((r) => r.msg === 'container runtime unreachable; collecting host metrics only');
    assert.equal(unreachable.length, 1, `logged once: ${JSON.stringify(log.records.map((r) => r.msg))}`);
    const err = String((unreachable[0]!.obj as { err?: string }).err);
    assert.match(err, /TLS to the engine failed/);
    assert.match(err, /DOCKER_CERT_PATH/);
    assert.match(err, /(SELF_SIGNED|UNABLE_TO|CERT)/, err);
    assert.equal(agent.stats().runtimeAvailable, false);
    assert.ok(h.written.every((b) => b.containers.length === 0));
    assert.ok(agent.stats().connected, 'still streaming to the server');
  } finally {
    await agent.stop();
    await h.server.close(1000);
  }
});

test('the CLI: a missing cert.pem with DOCKER_TLS_VERIFY exits 2 naming DOCKER_CERT_PATH and the file, before connecting', { timeout: 30_000 }, async () => {
  const dir = tempDir('dwtls-missing-');
  const certs = join(dir, 'certs');
  mkdirSync(certs);
  copyFileSync(join(d.certs.clientDir, 'ca.pem'), join(certs, 'ca.pem'));
  copyFileSync(join(d.certs.clientDir, 'key.pem'), join(certs, 'key.pem'));
  for (const mode of ['agent', 'all']) {
    const cli = runCli([mode], { ...d.env, DOCKER_CERT_PATH: certs, HOME: dir, DATA_DIR: join(dir, 'data'), PORT: String(await freePort()), GRPC_PORT: String(await freePort()) });
    const code = await cli.exited;
    assert.equal(code, 2, cli.output());
    assert.match(cli.output(), new RegExp(`DOCKER_CERT_PATH="${certs}": cert\\.pem not found \\(${join(certs, 'cert.pem')}\\)`));
    assert.doesNotMatch(cli.output(), /BEGIN|PRIVATE/);
  }
});
