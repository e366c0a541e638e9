// The proto works outside Node: stock protoc (grpc_tools) generates Python stubs, and the
// Python example client subscribes to a real server. The Node example is run as well.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { AppError } from '../../src/application/errors.js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { requireEnv } from '../helpers/env.js';
import { batch, container, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const python = requireEnv('TEST_PYTHON');
const TOKEN = 'py-token-123';
let gen = '';
let h: Harness;

async function ingest(seq: number, cpu: number): Promise<void> {
  const client = rawClient(h.address);
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const call = client.StreamMetrics(md);
  const res = collect(call);
  call.write(metricDataToWire(batch('agent-py', seq, {
    hostname: 'py-host',
    containers: [container('0123456789ab', { name: 'web-py', labels: { team: 'py' }, cpuPercent: cpu }), container('ffff', { name: 'db' })],
  })));
  call.end();
  await res.status;
  assert.equal(res.items[0]?.status, 'ACK');
  client.close();
}

before(async () => {
  gen = await mkdtemp(join(tmpdir(), 'dockwatch-grpc-py-'));
  h = await startServer({
    authorize: async (md) => {
      if (md.get('authorization')[0] !== `Bearer ${TOKEN}`) throw new AppError('UNAUTHENTICATED', 'token required');
    },
  });
});
after(async () => {
  await h?.server.close(500);
  if (gen) await rm(gen, { recursive: true, force: true });
});

test('stock protoc (grpc_tools) compiles the proto into Python stubs', async () => {
  const { stdout } = await run(python, ['-c', 'import grpc_tools,os;print(os.path.dirname(grpc_tools.__file__))']);
  const include = join(stdout.trim(), '_proto');
  await run(python, ['-m', 'grpc_tools.protoc', '-I', join(root, 'proto'), '-I', include,
    `--python_out=${gen}`, `--grpc_python_out=${gen}`, join(root, 'proto/metrics.proto')], { cwd: root });
  assert.deepEqual((await readdir(gen)).filter((f) => f.endsWith('.py')).sort(), ['metrics_pb2.py', 'metrics_pb2_grpc.py']);
});

test('the Python example subscribes: snapshot first, then live, filtered; the token travels', async () => {
  await ingest(1, 11.5);
  const child = spawn(python, [join(root, 'examples/subscribe.py'), '--server', h.address, '--name', 'web-*',
    '--label', 'team=py', '--include-host', '--count', '2', '--timeout', '30'], {
    env: { ...process.env, PYTHONPATH: gen, DOCKWATCH_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  await waitFor(() => out.includes('\n') || child.exitCode !== null, 30_000, 'snapshot from python');
  await ingest(2, 22.5);
  assert.equal(await exited, 0, err);
  const [snap, live] = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(snap.sequence ?? '0', '0', 'snapshot has sequence 0 (the JSON mapping omits zero)');
  assert.equal(snap.hostname, 'py-host');
  assert.deepEqual(snap.containers.map((c: any) => [c.id, c.name, c.labels.team, c.cpu_percent]), [['0123456789ab', 'web-py', 'py', 11.5]]);
  assert.equal(snap.host.num_cpus, 2);
  assert.equal(live.sequence, '2', 'uint64 as a JSON string, per the proto3 JSON mapping');
  assert.deepEqual(live.containers.map((c: any) => c.cpu_percent), [22.5]);
});

test('the Python client sees INVALID_ARGUMENT naming the field, and UNAUTHENTICATED without a token', async () => {
  const env = { ...process.env, PYTHONPATH: gen, DOCKWATCH_TOKEN: TOKEN };
  await assert.rejects(
    run(python, [join(root, 'examples/subscribe.py'), '--server', h.address, '--label', 'team', '--label', 'team~py', '--timeout', '20'], { env }),
    (e: any) => e.code === 1 && /INVALID_ARGUMENT: labels\[1\]: unknown operator/.test(e.stderr),
  );
  const { DOCKWATCH_TOKEN: _t, ...noToken } = env;
  await assert.rejects(
    run(python, [join(root, 'examples/subscribe.py'), '--server', h.address, '--timeout', '20'], { env: noToken }),
    (e: any) => e.code === 1 && /UNAUTHENTICATED: token required/.test(e.stderr),
  );
});

test('the Node example subscribes with filters and a token from the environment', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples/subscribe.ts'), '--id', '0123', '--count', '1'], {
    cwd: root, env: { ...process.env, DOCKWATCH_GRPC_ADDR: h.address, DOCKWATCH_TOKEN: TOKEN }, timeout: 30_000,
  });
  const msg = JSON.parse(stdout.trim().split('\n')[0]!);
  assert.equal(msg.sequence, 0);
  assert.deepEqual(msg.containers.map((c: any) => c.id), ['0123456789ab']);
});

// A StreamMetrics client from stock stubs that announces `commands` gets the command as
// MetricResponse.command; stubs made from the proto as it was before the field existed
// parse the same bytes and skip it (an ack-looking STATUS_UNSPECIFIED, sequence 0: why the
// server sends commands only to agents that announce the capability).
const PY_STREAM = `
import grpc, json, sys, time, threading
import metrics_pb2 as pb, metrics_pb2_grpc as rpc
addr, token = sys.argv[1], sys.argv[2]
done = threading.Event()
def requests():
    yield pb.MetricData(agent_id='agent-pycmd', hostname='py-host', sequence=1, timestamp_ms=int(time.time() * 1000), complete=True, interval_ms=1000)
    done.wait(30)
stub = rpc.MetricsServiceStub(grpc.insecure_channel(addr))
calls = stub.StreamMetrics(requests(), metadata=[('authorization', 'Bearer ' + token), ('x-dockwatch-capabilities', 'commands')], timeout=30)
for r in calls:
    out = {'sequence': r.sequence, 'status': pb.MetricResponse.Status.Name(r.status), 'has_command': r.HasField('command'), 'hex': r.SerializeToString().hex()}
    if r.HasField('command'):
        c = r.command
        out['command'] = [c.id, c.kind, c.container_id, c.container_name, c.timeout_sec, c.reason]
    print(json.dumps(out), flush=True)
    if r.HasField('command'):
        done.set()
        calls.cancel()
        break
`;

test('stock Python stubs: StreamMetrics with the capability reads MetricResponse.command; stubs from the proto before the field skip it', async () => {
  const proto = await readFile(join(root, 'proto/metrics.proto'), 'utf8');
  const oldProto = proto.replace(/^\s*AgentCommand command = 5;\s*$/m, '');
  assert.notEqual(oldProto, proto, 'the command field was found and removed');
  const oldDir = join(gen, 'old');
  await mkdir(join(oldDir, 'proto'), { recursive: true });
  await writeFile(join(oldDir, 'proto/metrics.proto'), oldProto);
  const { stdout: gt } = await run(python, ['-c', 'import grpc_tools,os;print(os.path.dirname(grpc_tools.__file__))']);
  await run(python, ['-m', 'grpc_tools.protoc', '-I', join(oldDir, 'proto'), '-I', join(gt.trim(), '_proto'),
    `--python_out=${oldDir}`, join(oldDir, 'proto/metrics.proto')]);

  const child = spawn(python, ['-c', PY_STREAM, h.address, TOKEN], { env: { ...process.env, PYTHONPATH: gen }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  await waitFor(() => out.includes('\n') || child.exitCode !== null, 30_000, 'ack from python');
  const cmd = { id: 'py-1', kind: 'restart' as const, containerId: 'cid-py', containerName: 'web-py', timeoutSec: 12, reason: 'unhealthy' };
  assert.equal(h.server.sendCommand('agent-pycmd', cmd), true, err);
  assert.equal(await exited, 0, err);
  const [ack, command] = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([ack.sequence, ack.status, ack.has_command], [1, 'ACK', false]);
  assert.deepEqual([command.sequence, command.status, command.has_command], [0, 'STATUS_UNSPECIFIED', true]);
  assert.deepEqual(command.command, ['py-1', 'restart', 'cid-py', 'web-py', 12, 'unhealthy']);

  const { stdout: old } = await run(python, ['-c', `
import sys, json, metrics_pb2 as pb
m = pb.MetricResponse(); m.ParseFromString(bytes.fromhex(sys.argv[1]))
print(json.dumps([m.agent_id, m.sequence, m.status, hasattr(m, 'command')]))`, command.hex], { env: { ...process.env, PYTHONPATH: oldDir } });
  assert.deepEqual(JSON.parse(old), ['agent-pycmd', 0, 0, false], 'the old stubs parse it and have no command field');
});
