// Runs inside the cgroup v2 VM (scripts/cgroup2-vm.sh, test/vm/guest-run.sh), as root, against the
// guest's real dockerd (and podman in the systemd boot). Starts `dockwatch all`, real containers,
// the agent in a container (private and host cgroup namespace), and prints what it measured as
// `DWRESULT {json}` lines: the agent's values (from the server's /api/containers), `docker stats`
// and the cgroup files, side by side. It judges nothing: test/integration/cgroup2-vm.test.ts does.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';

const MODE = process.argv[2] ?? 'cgroupfs';
const APP = '/opt/dw/app';
const IMG = '/opt/dw/img';
const BUSYBOX = 'dockwatch-test/busybox:latest';
const AGENT_IMAGE = 'dockwatch-agent:vm';
const TOKEN = 'vm-agent-token-0123456789abcdef';
const PORT = 8080;
const GRPC = 50051;
const INTERVAL_S = 2;
const t0 = Date.now();
const WebSocket = createRequire(`${APP}/package.json`)('ws');

const result = (name, data) => console.log(`DWRESULT ${JSON.stringify({ mode: MODE, case: name, ...data })}`);
const note = (msg) => console.log(`DWLOG [${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr || err.message).trim().slice(0, 800)}`));
      else resolve(stdout.trim());
    });
  });
}
const docker = (...a) => run('docker', a);
const podman = (...a) => run('podman', a);
const readTrim = (p) => readFileSync(p, 'utf8').trim();
const tryRead = (p) => { try { return readFileSync(p, 'utf8'); } catch (e) { return null; } };

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(500);
  }
}

// ---- the Engine API (exact byte counters; `docker stats` prints them rounded) ----
function engine(socketPath, path) {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(new Error(`${path}: ${b.slice(0, 200)}`)); } });
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- the cgroup files of a container, found through its init pid's /proc/<pid>/cgroup ----
function cgroupDir(pid) {
  const line = readTrim(`/proc/${pid}/cgroup`).split('\n').find((l) => l.startsWith('0::'));
  return `/sys/fs/cgroup${line.slice(3)}`;
}
function flat(text, key) {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : null;
}
function ioStat(text) {
  let r = 0; let w = 0;
  for (const m of (text ?? '').matchAll(/rbytes=(\d+) wbytes=(\d+)/g)) { r += Number(m[1]); w += Number(m[2]); }
  return { read: r, write: w };
}
function netDev(pid) {
  let rx = 0; let tx = 0;
  for (const line of readTrim(`/proc/${pid}/net/dev`).split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (name.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0]; tx += f[8];
  }
  return { rx, tx };
}
function files(pid) {
  const dir = cgroupDir(pid);
  const memStat = tryRead(`${dir}/memory.stat`);
  const cur = tryRead(`${dir}/memory.current`);
  return {
    dir,
    cpuUsageUsec: flat(tryRead(`${dir}/cpu.stat`), 'usage_usec'),
    memCurrent: cur === null ? null : Number(cur),
    inactiveFile: flat(memStat, 'inactive_file'),
    memUsage: cur === null ? null : Number(cur) - (flat(memStat, 'inactive_file') ?? 0),
    pids: tryRead(`${dir}/pids.current`) === null ? null : Number(readTrim(`${dir}/pids.current`)),
    io: tryRead(`${dir}/io.stat`) === null ? null : ioStat(tryRead(`${dir}/io.stat`)),
    ioStatExists: existsSync(`${dir}/io.stat`),
    net: netDev(pid),
  };
}

// ---- `docker stats --no-stream` (its units: B, kB/MB/GB for I/O, KiB/MiB/GiB for memory) ----
const UNITS = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const bytes = (s) => { const m = /^([\d.]+)\s*([A-Za-z]+)$/.exec(s.trim()); return m ? Number(m[1]) * (UNITS[m[2]] ?? NaN) : NaN; };
function parseStatsLine(o) {
  const [mu] = o.MemUsage.split(' / '); const [nr, nt] = o.NetIO.split(' / '); const [br, bw] = o.BlockIO.split(' / ');
  return { name: o.Name, cpuPercent: Number.parseFloat(o.CPUPerc), memUsage: bytes(mu), netRx: bytes(nr), netTx: bytes(nt), blkRead: bytes(br), blkWrite: bytes(bw), pids: Number(o.PIDs) };
}
async function dockerStats(cli = docker, names) {
  const out = await cli('stats', '--no-stream', '--format', '{{json .}}', ...names);
  const m = {};
  for (const l of out.split('\n').filter(Boolean)) { const s = parseStatsLine(JSON.parse(l)); m[s.name.replace(/^\//, '')] = s; }
  return m;
}

// ---- the agent's view: the server's /api/containers ----
let token;
async function api(path) {
  const res = await fetch(`http://127.0.0.1:${PORT}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  return res.json();
}
const agentView = async (agentId) => (await api('/api/containers')).filter((c) => c.agent_id === agentId);
const byName = (list) => Object.fromEntries(list.map((c) => [c.name, c]));
const pick = (c) => c && ({
  source: c.source, state: c.state, cpuPercent: c.stats.cpu_percent, memUsage: c.stats.mem_usage_bytes, memLimit: c.stats.mem_limit_bytes,
  pids: c.stats.pids, blkRead: c.stats.blk_read_bytes, blkWrite: c.stats.blk_write_bytes, netRx: c.stats.net_rx_bytes, netTx: c.stats.net_tx_bytes, ts: c.stats.ts,
});

function startProcess(name, args, env) {
  let out = '';
  const child = spawn('/opt/node/bin/node', args, { cwd: APP, env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return { child, output: () => out, name };
}
const logLines = (text) => text.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return { msg: l }; } });

/** Waits until every name has a fresh sample from agentId (source set), returns them by name. */
async function samplesOf(agentId, names, timeoutMs = 90_000, after = 0) {
  return waitFor(`${agentId} samples of ${names.join(',')}`, async () => {
    const m = byName(await agentView(agentId));
    return names.every((n) => m[n] && m[n].source && m[n].stats.ts > after) ? m : null;
  }, timeoutMs);
}

/** CPU over a window: each agent's samples, the file's usage_usec delta, and `docker stats` in the same window. */
async function cpuWindow(agentIds, name, pid, statsCli, windowMs = 12_000) {
  const f0 = files(pid).cpuUsageUsec; const w0 = process.hrtime.bigint();
  const seen = Object.fromEntries(agentIds.map((id) => [id, new Map()]));
  const end = Date.now() + windowMs;
  const statsP = statsCli ? dockerStats(statsCli, [name]).catch((e) => ({ error: e.message })) : Promise.resolve(null);
  while (Date.now() < end) {
    for (const c of await api('/api/containers')) {
      if (c.name === name && c.source && seen[c.agent_id]) seen[c.agent_id].set(c.stats.ts, c.stats.cpu_percent);
    }
    await sleep(700);
  }
  const ds = await statsP;
  const f1 = files(pid).cpuUsageUsec; const w1 = process.hrtime.bigint();
  const filePercent = ((f1 - f0) / (Number(w1 - w0) / 1000)) * 100;
  return Object.fromEntries(agentIds.map((id) => {
    const samples = [...seen[id].values()].slice(1); // the first may predate the window
    return [id, {
      agentSamples: samples,
      agentMean: samples.length ? samples.reduce((x, y) => x + y, 0) / samples.length : null,
      filePercent,
      dockerStats: ds && !ds.error ? ds[name]?.cpuPercent : ds,
    }];
  }));
}

async function main() {
  const info = await docker('info', '--format', '{{json .}}').then(JSON.parse);
  result('engine', { ok: true, driver: info.CgroupDriver, cgroupVersion: info.CgroupVersion, storage: info.Driver, version: info.ServerVersion, kernel: info.KernelVersion });
  // The agent's image is big (node + node_modules: ~200 MB into vfs): import it while the rest runs.
  const agentImage = docker('import', '-c', 'ENV PATH=/usr/local/bin:/bin', '-c', 'ENV NODE_ENV=production', '-c', 'ENV DOCKER_HOST=unix:///var/run/docker.sock',
    '-c', 'ENV HOST_PROC=/host/proc', '-c', 'ENV HOST_SYS=/host/sys', '-c', 'ENV COLLECT_INTERVAL=2s', '-c', 'WORKDIR /app',
    '-c', 'USER 10001:10001', '-c', 'CMD ["node", "dist/cli.js", "agent"]', `${IMG}/agent.tar`, AGENT_IMAGE);
  agentImage.catch(() => undefined);
  const busybox = docker('import', '-c', 'ENV PATH=/bin', `${IMG}/busybox.tar`, BUSYBOX);

  // The server + the agent as a host process, as `dockwatch all` runs.
  mkdirSync('/tmp/dwdata', { recursive: true });
  const all = startProcess('all', ['dist/cli.js', 'all'], {
    PORT: String(PORT), GRPC_PORT: String(GRPC), COLLECT_INTERVAL: `${INTERVAL_S}s`, DATA_DIR: '/tmp/dwdata', AGENT_ID: 'host-process',
    ADMIN_PASSWORD: 'vm-admin-password', JWT_SECRET: 'vm-secret-that-is-long-enough-0123456789', AGENT_TOKEN: TOKEN,
  });
  await waitFor('dockwatch all', () => /is running/.test(all.output()), 180_000).catch((e) => { throw new Error(`${e.message}\n${all.output().slice(-2000)}`); });
  const login = await fetch(`http://127.0.0.1:${PORT}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'vm-admin-password' }),
  });
  token = (await login.json()).token;
  note('dockwatch all is running');
  await busybox;

  // A parent cgroup whose io controller gets disabled: its container has no io.stat.
  const noioParent = MODE === 'systemd' ? 'dwnoio.slice' : '/dwnoio';
  const noioDir = MODE === 'systemd' ? '/sys/fs/cgroup/dwnoio.slice' : '/sys/fs/cgroup/dwnoio';
  // The default bridge's address on the VM's side (docker0): the net case pings it.
  const gateway = (await run('ip', ['-4', '-o', 'addr', 'show', 'docker0']).catch(() => '')).match(/inet ([\d.]+)/)?.[1] ?? '';
  if (!gateway) note(`no docker0: ${await run('ip', ['-br', 'addr']).catch((e) => e.message)}`);
  mkdirSync('/tmp/dwmarks', { recursive: true });
  const common = ['run', '-d', '--label', 'dockwatch.test=vm', '-v', '/tmp/dwmarks:/marks'];
  const specs = {
    'dw-cpu': [...common, '--name', 'dw-cpu', '--network', 'none', '--cpus', '0.5', BUSYBOX, 'sh', '-c', 'yes > /dev/null'],
    'dw-mem': [...common, '--name', 'dw-mem', '--network', 'none', '-m', '64m', BUSYBOX, 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=48 && touch /marks/$HOSTNAME && exec sleep 1000000'],
    'dw-pids': [...common, '--name', 'dw-pids', '--network', 'none', BUSYBOX, 'sh', '-c', 'for i in 1 2 3 4 5; do sleep 1000000 & done; touch /marks/$HOSTNAME; exec sleep 1000000'],
    'dw-io': [...common, '--name', 'dw-io', '--network', 'none', BUSYBOX, 'sh', '-c', 'dd if=/dev/zero of=/data bs=1M count=32 conv=fsync && sync && cat /data > /dev/null && touch /marks/$HOSTNAME && exec sleep 1000000'],
    'dw-net': [...common, '--name', 'dw-net', BUSYBOX, 'sh', '-c', `ping -c 20 -s 1000 -i 0.2 ${gateway || '127.0.0.1'}; touch /marks/$HOSTNAME; exec sleep 1000000`],
    'dw-noio': [...common, '--name', 'dw-noio', '--network', 'none', '--cgroup-parent', noioParent, BUSYBOX, 'sh', '-c', 'touch /marks/$HOSTNAME; exec sleep 1000000'],
  };
  if (MODE !== 'systemd') mkdirSync(noioDir, { recursive: true });
  const ids = Object.fromEntries(await Promise.all(Object.entries(specs).map(async ([n, a]) => [n, await docker(...a)])));
  // Disable io below the parent now that runc has created the container's cgroup.
  let noioDisable = 'ok';
  try { writeFileSync(`${noioDir}/cgroup.subtree_control`, '-io'); } catch (e) { noioDisable = e.message; }
  note(`containers started; gateway=${gateway}; io disabled in ${noioDir}: ${noioDisable}; subtree_control=${tryRead(`${noioDir}/cgroup.subtree_control`)?.trim()}`);
  const pids = {};
  for (const n of Object.keys(specs)) pids[n] = Number(await docker('inspect', '-f', '{{.State.Pid}}', n));
  await waitFor('the containers finish their writes', async () => {
    return Object.keys(specs).filter((n) => n !== 'dw-cpu').every((n) => existsSync(`/tmp/dwmarks/${ids[n].slice(0, 12)}`));
  }, 120_000).catch(async (e) => {
    for (const n of Object.keys(specs)) note(`${n}: ${await run('sh', ['-c', `docker ps -a --filter name=${n} --format '{{.Status}}'; docker logs ${n} 2>&1 | tail -5`]).catch((x) => x.message)}`);
    throw e;
  });
  note('writes done');
  const names = Object.keys(specs);
  const startedAt = Date.now();
  await samplesOf('host-process', names, 90_000, startedAt + 2 * INTERVAL_S * 1000);
  await cases(['host-process'], names, pids, ids, docker);

  const noioFiles = files(pids['dw-noio']);
  const allLog = logLines(all.output());
  const noioLog = allLog.filter((l) => JSON.stringify(l).includes(ids['dw-noio']) || JSON.stringify(l).includes(ids['dw-noio'].slice(0, 12)));
  const agentNoio = byName(await agentView('host-process'))['dw-noio'];
  result('missing-controller', {
    dir: noioFiles.dir, ioStatExists: noioFiles.ioStatExists, controllers: tryRead(`${noioFiles.dir}/cgroup.controllers`)?.trim(),
    agent: pick(agentNoio), logLines: noioLog.filter((l) => l.level >= 30 || l.level === 'warn').map((l) => l.msg + ' ' + JSON.stringify(l).slice(0, 300)),
    warnCount: allLog.filter((l) => (l.level === 40 || l.level === 'warn') && JSON.stringify(l).includes(ids['dw-noio'])).length,
  });

  // ---- the agent in a container, mounts as README / Dockerfile.agent say ----
  const sockGid = (await run('stat', ['-c', '%g', '/var/run/docker.sock']));
  const agentRun = (id, ns) => docker('run', '-d', '--name', id, '--label', 'dockwatch.test=vm', '--network', 'host', ...(ns ? ['--cgroupns', ns] : []),
    '--read-only', '--tmpfs', '/tmp', '--group-add', sockGid,
    '-v', '/var/run/docker.sock:/var/run/docker.sock:ro', '-v', '/proc:/host/proc:ro', '-v', '/sys:/host/sys:ro',
    '-e', `SERVER_ADDR=127.0.0.1:${GRPC}`, '-e', `AGENT_TOKEN=${TOKEN}`, '-e', `AGENT_ID=${id}`, '-e', 'LOG_LEVEL=info', AGENT_IMAGE);
  await agentImage;
  note('agent image imported');
  await Promise.all([agentRun('ctr-private', ''), agentRun('ctr-hostns', 'host')]);
  note('agent containers started');
  const inCtr = [];
  for (const id of ['ctr-private', 'ctr-hostns']) {
    try {
      await samplesOf(id, names, 180_000, Date.now() + INTERVAL_S * 1000);
      const pid = await docker('inspect', '-f', '{{.State.Pid}}', id);
      const ns = (p) => run('readlink', [`/proc/${p}/ns/cgroup`]);
      result('in-container-setup', {
        agentId: id, cgroupnsRequested: id === 'ctr-hostns' ? 'host' : 'private (default)',
        agentCgroupns: await ns(pid), hostCgroupns: await ns(1), agentProcCgroup: readTrim(`/proc/${pid}/cgroup`),
      });
      inCtr.push(id);
    } catch (e) {
      const logs = await run('sh', ['-c', `docker logs ${id} 2>&1 | tail -30`]).catch(() => '');
      result('in-container-setup', { agentId: id, ok: false, error: e.message, logs });
    }
  }
  if (inCtr.length) await cases(inCtr, names.filter((n) => n !== 'dw-noio'), pids, ids, docker);
  for (const id of inCtr) {
    const logs = await run('sh', ['-c', `docker logs ${id} 2>&1`]);
    result('in-container-log', { agentId: id, warnings: logLines(logs).filter((l) => l.level >= 40).map((l) => l.msg + ' ' + JSON.stringify(l).slice(0, 300)) });
  }
  await run('sh', ['-c', 'docker rm -f $(docker ps -aq --filter label=dockwatch.test=vm)']).catch(() => undefined);
  if (MODE === 'systemd') await podmanCases().catch((e) => result('podman-setup', { ok: false, error: e.message }));
  const warns = logLines(all.output()).filter((l) => l.level >= 40).map((l) => l.msg + ' ' + JSON.stringify(l).slice(0, 300));
  result('host-process-log', { warnings: warns });
  all.child.kill('SIGTERM');
  await sleep(2000);
}

/** The value cases for some agents at once: cpu, memory, pids, io, net: agent vs docker stats vs files. */
async function cases(agentIds, names, pids, ids, statsCli) {
  if (names.includes('dw-cpu')) {
    const w = await cpuWindow(agentIds, 'dw-cpu', pids['dw-cpu'], statsCli);
    for (const agentId of agentIds) result('cpu', { agentId, limitCpus: 0.5, ...w[agentId] });
  }
  const [all, ds] = await Promise.all([api('/api/containers'), dockerStats(statsCli, names.filter((n) => n !== 'dw-cpu'))]);
  const ioApi = await engine('/var/run/docker.sock', `/containers/${ids['dw-io']}/stats?stream=false`).catch(() => null);
  const netApi = await engine('/var/run/docker.sock', `/containers/${ids['dw-net']}/stats?stream=false`).catch(() => null);
  for (const agentId of agentIds) {
    const agent = byName(all.filter((c) => c.agent_id === agentId));
    const snap = (n) => ({ agent: pick(agent[n]), dockerStats: ds[n], files: files(pids[n]) });
    result('memory', { agentId, ...snap('dw-mem') });
    result('pids', { agentId, ...snap('dw-pids') });
    const eb = ioApi?.blkio_stats?.io_service_bytes_recursive ?? [];
    const sum = (op) => eb.filter((e) => e.op.toLowerCase() === op).reduce((x, e) => x + e.value, 0);
    result('io', { agentId, ...snap('dw-io'), engineApi: { read: sum('read'), write: sum('write') } });
    const nets = Object.values(netApi?.networks ?? {});
    result('net', { agentId, ...snap('dw-net'), engineApi: { rx: nets.reduce((x, n) => x + n.rx_bytes, 0), tx: nets.reduce((x, n) => x + n.tx_bytes, 0) } });
    result('net-none', { agentId, agent: pick(agent['dw-pids']), files: files(pids['dw-pids']).net });
    result('sources', { agentId, sources: Object.fromEntries(names.map((n) => [n, agent[n]?.source])) });
  }
}

async function podmanCases() {
  const sock = '/run/podman/podman.sock';
  mkdirSync('/run/podman', { recursive: true });
  const svc = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { stdio: 'ignore' });
  await waitFor('podman socket', () => engine(sock, '/version').then((v) => v.Version), 120_000);
  const version = await podman('version', '--format', '{{.Server.Version}}').catch((e) => e.message);
  const cgm = await podman('info', '--format', '{{.Host.CgroupManager}} {{.Host.CgroupsVersion}}').catch((e) => e.message);
  await podman('import', '-c', 'ENV PATH=/bin', `${IMG}/busybox.tar`, 'localhost/dockwatch-test/busybox:latest');
  const agent = startProcess('podman-agent', ['dist/cli.js', 'agent'], {
    DOCKER_HOST: `unix://${sock}`, SERVER_ADDR: `127.0.0.1:${GRPC}`, AGENT_TOKEN: TOKEN, AGENT_ID: 'podman', COLLECT_INTERVAL: `${INTERVAL_S}s`,
  });
  await waitFor('podman agent', () => /agent started/.test(agent.output()), 120_000);
  // Events over /ws: the agent follows podman's /events.
  const events = [];
  const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws?token=${encodeURIComponent(token)}&name=pd-*`);
  ws.on('message', (m) => { const o = JSON.parse(String(m)); if (o.type === 'event') events.push({ name: o.container_name, action: o.action }); });
  await new Promise((r) => ws.once('open', r));
  const img = 'localhost/dockwatch-test/busybox:latest';
  const specs = {
    'pd-cpu': ['run', '-d', '--name', 'pd-cpu', '--network', 'none', '--cpus', '0.5', img, 'sh', '-c', 'yes > /dev/null'],
    'pd-mem': ['run', '-d', '--name', 'pd-mem', '--network', 'none', '-m', '64m', img, 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=48 && exec sleep 1000000'],
    'pd-pids': ['run', '-d', '--name', 'pd-pids', '--network', 'none', img, 'sh', '-c', 'for i in 1 2 3; do sleep 1000000 & done; exec sleep 1000000'],
  };
  const ids = {};
  for (const [n, a] of Object.entries(specs)) ids[n] = await podman(...a);
  const pids = {};
  for (const n of Object.keys(specs)) pids[n] = Number(await podman('inspect', '-f', '{{.State.Pid}}', n));
  const since = Date.now();
  let m;
  try {
    m = await samplesOf('podman', Object.keys(specs), 120_000, since + INTERVAL_S * 1000);
  } catch (e) {
    result('podman-setup', { ok: false, error: e.message, agentLog: agent.output().slice(-3000), version, cgroupManager: cgm });
    throw e;
  }
  result('podman-setup', { ok: true, version, cgroupManager: cgm, dirs: Object.fromEntries(Object.keys(specs).map((n) => [n, files(pids[n]).dir])) });
  const w = await cpuWindow(['podman'], 'pd-cpu', pids['pd-cpu'], podman);
  result('podman-cpu', { agentId: 'podman', limitCpus: 0.5, ...w.podman });
  await sleep(3000);
  const [agentNow, ps] = await Promise.all([agentView('podman').then(byName), dockerStats(podman, ['pd-mem', 'pd-pids']).catch((e) => ({ error: e.message }))]);
  result('podman-memory', { agentId: 'podman', agent: pick(agentNow['pd-mem']), dockerStats: ps['pd-mem'] ?? ps, files: files(pids['pd-mem']) });
  result('podman-pids', { agentId: 'podman', agent: pick(agentNow['pd-pids']), dockerStats: ps['pd-pids'] ?? ps, files: files(pids['pd-pids']) });
  // Lifecycle: stop one, start a new one; the agent's event stream carries both.
  await podman('stop', '-t', '1', 'pd-pids');
  await podman('run', '-d', '--name', 'pd-late', '--network', 'none', img, 'sleep', '1000000');
  await waitFor('podman events', () => events.some((e) => e.name === 'pd-pids' && /die|stop/.test(e.action)) && events.some((e) => e.name === 'pd-late' && e.action === 'start'), 60_000).catch(() => undefined);
  const after = byName(await agentView('podman'));
  result('podman-events', { events, stoppedState: after['pd-pids']?.state, late: pick(after['pd-late']) });
  const warns = logLines(agent.output()).filter((l) => l.level >= 40).map((l) => l.msg + ' ' + JSON.stringify(l).slice(0, 300));
  result('podman-log', { warnings: warns });
  ws.close();
  agent.child.kill('SIGTERM');
  await podman('rm', '-f', '-a').catch(() => undefined);
  svc.kill('SIGTERM');
}

main().then(
  () => { result('done', { ok: true, seconds: (Date.now() - t0) / 1000 }); process.exit(0); },
  (e) => { result('done', { ok: false, error: String(e.stack ?? e).slice(0, 3000), seconds: (Date.now() - t0) / 1000 }); process.exit(1); },
);
