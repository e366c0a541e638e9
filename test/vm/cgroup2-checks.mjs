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
    // A hung command fails with its name after 3 min instead of stalling the boot until qemu's timeout.
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 180_000, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}${err.killed ? ' (killed after 180 s)' : ''}: ${String(stderr || err.message).trim().slice(0, 800)}`));
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
    file: flat(memStat, 'file'), // page cache, shmem included
    shmem: flat(memStat, 'shmem'),
    anon: flat(memStat, 'anon'), // what podman 4.3's stats show as memory
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
  if (out.startsWith('[')) { // podman: --format '{{json .}}' is its json format, one array
    for (const o of JSON.parse(out)) {
      const [mu] = String(o.mem_usage ?? '').split(' / ');
      m[o.name] = { name: o.name, cpuPercent: Number.parseFloat(o.cpu_percent), memUsage: bytes(mu), pids: Number(o.pids), raw: o };
    }
    return m;
  }
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
  source: c.source, state: c.state, image: c.image, exitCode: c.exit_code, cpuPercent: c.stats.cpu_percent, memUsage: c.stats.mem_usage_bytes, memLimit: c.stats.mem_limit_bytes,
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

/** /proc/stat as dockerd reads it: fields 1..7 of the cpu line (USER_HZ 100) in ns, and the CPU count. */
function procStat() {
  const lines = readTrim('/proc/stat').split('\n');
  const ticks = lines[0].trim().split(/\s+/).slice(1, 8).reduce((x, y) => x + Number(y), 0);
  return { ns: ticks * 1e7, cpus: lines.filter((l) => /^cpu\d/.test(l)).length };
}

/** CPU over a window: each agent's samples, the file's usage_usec delta, and `docker stats` in the same window. */
async function cpuWindow(agentIds, name, pid, statsCli, windowMs = 12_000) {
  const f0 = files(pid).cpuUsageUsec; const w0 = process.hrtime.bigint(); const s0 = procStat();
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
  const f1 = files(pid).cpuUsageUsec; const w1 = process.hrtime.bigint(); const s1 = procStat();
  const filePercent = ((f1 - f0) / (Number(w1 - w0) / 1000)) * 100;
  // The docker stats formula over the same window from the files: usage / (/proc/stat's CPU time / CPUs).
  // Under TCG the guest's tick-sampled /proc/stat can run slower than the wall clock.
  const statFormulaPercent = ((f1 - f0) * 1000 / (s1.ns - s0.ns)) * s1.cpus * 100;
  const procStatVsWall = (s1.ns - s0.ns) / s1.cpus / Number(w1 - w0);
  return Object.fromEntries(agentIds.map((id) => {
    const samples = [...seen[id].values()].slice(1); // the first may predate the window
    return [id, {
      agentSamples: samples,
      agentMean: samples.length ? samples.reduce((x, y) => x + y, 0) / samples.length : null,
      filePercent, statFormulaPercent, procStatVsWall,
      dockerStats: ds && !ds.error ? ds[name]?.cpuPercent : ds,
    }];
  }));
}

async function main() {
  const info = await docker('info', '--format', '{{json .}}').then(JSON.parse);
  result('engine', { ok: true, driver: info.CgroupDriver, cgroupVersion: info.CgroupVersion, storage: info.Driver, version: info.ServerVersion, kernel: info.KernelVersion });
  // The agent's image is big (node + node_modules: ~200 MB into vfs): import it while the rest runs.
  const agentImage = run('docker', ['import', '-c', 'ENV PATH=/usr/local/bin:/bin', '-c', 'ENV NODE_ENV=production', '-c', 'ENV DOCKER_HOST=unix:///var/run/docker.sock',
    '-c', 'ENV HOST_PROC=/host/proc', '-c', 'ENV HOST_SYS=/host/sys', '-c', 'ENV COLLECT_INTERVAL=2s', '-c', 'WORKDIR /app',
    '-c', 'USER 10001:10001', '-c', 'CMD ["node", "dist/cli.js", "agent"]', `${IMG}/agent.tar`, AGENT_IMAGE], { timeout: 480_000 });
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
  note(`busybox imported; starting ${Object.keys(specs).length} containers`);
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
    '--read-only', '--tmpfs', '/tmp', '--group-add', sockGid, '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true',
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
  if (MODE === 'systemd') {
    await podmanCases('rootful').catch((e) => result('podman-setup', { ok: false, error: e.message }));
    await podmanCases('rootless').catch((e) => result('podman-rootless-setup', { ok: false, error: e.message }));
  }
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

/**
 * Podman through `podman system service` (its Docker-compatible API): rootful (root's service on
 * /run/podman/podman.sock, containers in machine.slice/libpod-<id>.scope) and rootless (dwuser's
 * service in its lingering user manager, containers below user@1000.service). The agent runs as a
 * host process with DOCKER_HOST on that socket.
 */
async function podmanCases(kind) {
  const rootless = kind === 'rootless';
  const uid = 1000;
  const rt = `/run/user/${uid}`;
  const sock = rootless ? `${rt}/podman/podman.sock` : '/run/podman/podman.sock';
  const userEnv = { HOME: '/home/dwuser', XDG_RUNTIME_DIR: rt, DBUS_SESSION_BUS_ADDRESS: `unix:path=${rt}/bus`, PATH: process.env.PATH };
  const asUser = (args) => ['-u', 'dwuser', '--', 'env', ...Object.entries(userEnv).map(([k, v]) => `${k}=${v}`), ...args];
  const cli = rootless ? (...a) => run('runuser', asUser(['podman', ...a]), { cwd: '/tmp' }) : podman;
  const p = rootless ? 'pdr-' : 'pd-';
  const agentId = rootless ? 'podman-rootless' : 'podman';
  const R = (name, data) => result(`${rootless ? 'podman-rootless' : 'podman'}-${name}`, data);
  if (rootless) {
    await waitFor(`dwuser's user manager and bus (${rt}/bus, linger)`, () => existsSync(`${rt}/bus`), 120_000);
    await run('runuser', asUser(['mkdir', '-p', `${rt}/podman`]));
  } else {
    mkdirSync('/run/podman', { recursive: true });
  }
  const svc = rootless
    ? spawn('runuser', asUser(['podman', 'system', 'service', '--time=0', `unix://${sock}`]), { stdio: 'ignore', cwd: '/tmp' })
    : spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { stdio: 'ignore' });
  try {
    await waitFor('podman socket', () => engine(sock, '/version').then((v) => v.Version), 120_000);
    const version = await cli('version', '--format', '{{.Server.Version}}').catch((e) => e.message);
    const cgm = await cli('info', '--format', '{{.Host.CgroupManager}} {{.Host.CgroupsVersion}} rootless={{.Host.Security.Rootless}} events={{.Host.EventLogger}}').catch((e) => e.message);
    const img = 'localhost/dockwatch-test/busybox:latest';
    await cli('import', '-c', 'ENV PATH=/bin', `${IMG}/busybox.tar`, img);
    // Podman's own event stream, unfiltered, beside what the agent makes of it.
    const raw = [];
    const rawReq = request({ socketPath: sock, path: '/events', method: 'GET' }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; let k; while ((k = b.indexOf('\n')) >= 0) { const l = b.slice(0, k).trim(); b = b.slice(k + 1); if (l) raw.push(l); } });
    });
    rawReq.on('error', () => undefined);
    rawReq.end();
    const agent = startProcess(`${agentId}-agent`, ['dist/cli.js', 'agent'], {
      DOCKER_HOST: `unix://${sock}`, SERVER_ADDR: `127.0.0.1:${GRPC}`, AGENT_TOKEN: TOKEN, AGENT_ID: agentId, COLLECT_INTERVAL: `${INTERVAL_S}s`,
    });
    await waitFor(`${agentId} agent`, () => /agent started/.test(agent.output()), 120_000);
    const events = [];
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws?token=${encodeURIComponent(token)}&name=${p}*`);
    ws.on('message', (m) => { const o = JSON.parse(String(m)); if (o.type === 'event') events.push({ name: o.container_name, action: o.action, exitCode: o.exit_code }); });
    await new Promise((r) => ws.once('open', r));
    const specs = {
      [`${p}cpu`]: ['run', '-d', '--name', `${p}cpu`, '--network', 'none', '--cpus', '0.5', img, 'sh', '-c', 'yes > /dev/null'],
      [`${p}mem`]: ['run', '-d', '--name', `${p}mem`, '--network', 'none', '-m', '64m', img, 'sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=48 && exec sleep 1000000'],
      [`${p}pids`]: ['run', '-d', '--name', `${p}pids`, '--network', 'none', img, 'sh', '-c', 'for i in 1 2 3; do sleep 1000000 & done; exec sleep 1000000'],
      [`${p}io`]: ['run', '-d', '--name', `${p}io`, '--network', 'none', img, 'sh', '-c', 'dd if=/dev/zero of=/data bs=1M count=16 conv=fsync && sync && exec sleep 1000000'],
    };
    const ids = {};
    for (const [n, a] of Object.entries(specs)) ids[n] = await cli(...a);
    const pids = {};
    for (const n of Object.keys(specs)) pids[n] = Number(await cli('inspect', '-f', '{{.State.Pid}}', n));
    const since = Date.now();
    try {
      await samplesOf(agentId, Object.keys(specs), 120_000, since + INTERVAL_S * 1000);
    } catch (e) {
      R('setup', { ok: false, error: e.message, agentLog: agent.output().slice(-3000), version, cgroupManager: cgm, agentView: (await agentView(agentId).catch(() => [])).map(pick) });
      throw e;
    }
    R('setup', { ok: true, version, cgroupManager: cgm, dirs: Object.fromEntries(Object.keys(specs).map((n) => [n, files(pids[n]).dir])) });
    const w = await cpuWindow([agentId], `${p}cpu`, pids[`${p}cpu`], cli);
    R('cpu', { agentId, limitCpus: 0.5, ...w[agentId] });
    await sleep(3000);
    const rest = [`${p}mem`, `${p}pids`, `${p}io`];
    const [agentNow, ps] = await Promise.all([agentView(agentId).then(byName), dockerStats(cli, rest).catch((e) => ({ error: e.message }))]);
    for (const n of rest) R(n.slice(p.length).replace(/^mem$/, 'memory'), { agentId, agent: pick(agentNow[n]), podmanStats: ps[n] ?? ps, files: files(pids[n]) });
    // Lifecycle: stop one (its exit is podman's "died"), start a new one; both reach /ws.
    await cli('stop', '-t', '1', `${p}pids`);
    await cli('run', '-d', '--name', `${p}late`, '--network', 'none', img, 'sleep', '1000000');
    await waitFor('podman events', () => events.some((e) => e.name === `${p}pids` && e.action === 'die') && events.some((e) => e.name === `${p}late` && e.action === 'start'), 60_000).catch(() => undefined);
    await sleep(2 * INTERVAL_S * 1000);
    const after = byName(await agentView(agentId));
    const inspectState = await cli('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', `${p}pids`).catch((e) => e.message);
    R('events', { events, stopped: pick(after[`${p}pids`]), inspectState, late: pick(after[`${p}late`]) });
    R('raw-events', { lines: raw.filter((l) => l.includes(`"${p}pids"`) || l.includes(`"${p}late"`)) });
    const warns = logLines(agent.output()).filter((l) => l.level >= 40).map((l) => l.msg + ' ' + JSON.stringify(l).slice(0, 300));
    R('log', { warnings: warns });
    ws.close();
    rawReq.destroy();
    agent.child.kill('SIGTERM');
    await cli('rm', '-f', '-a').catch(() => undefined);
  } finally {
    svc.kill('SIGTERM');
  }
}

/** What the guest is doing, on the console: for a failed or stuck run. */
async function diagnose(why) {
  note(`diagnostics (${why})`);
  const cmds = ['ps -eo pid,ppid,stat,etime,time,args --sort=start_time | tail -40', 'docker ps -a', 'systemctl list-jobs --no-pager',
    'journalctl -b --no-pager -n 60 -u docker -u containerd -u user@1000.service', 'free -m', 'cat /proc/pressure/cpu /proc/pressure/io'];
  for (const c of cmds) {
    const out = await run('sh', ['-c', `${c} 2>&1`], { timeout: 30_000 }).catch((e) => e.message);
    for (const l of out.split('\n')) console.log(`DWLOG diag ${l}`);
  }
}
// Inside qemu's own timeout (scripts/cgroup2-vm.sh, 720 s): a stuck run still says where it stuck.
const WATCHDOG_S = Number(process.env.DWVM_WATCHDOG_S ?? 560);
setTimeout(async () => {
  await diagnose(`still running after ${WATCHDOG_S} s`);
  result('done', { ok: false, error: `watchdog: still running after ${WATCHDOG_S} s`, seconds: (Date.now() - t0) / 1000 });
  process.exit(1);
}, WATCHDOG_S * 1000).unref();

main().then(
  () => { result('done', { ok: true, seconds: (Date.now() - t0) / 1000 }); process.exit(0); },
  async (e) => {
    await diagnose(e.message.slice(0, 200));
    result('done', { ok: false, error: String(e.stack ?? e).slice(0, 3000), seconds: (Date.now() - t0) / 1000 });
    process.exit(1);
  },
);
