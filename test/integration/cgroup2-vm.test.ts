// cgroup v2 on a real Linux kernel with a real dockerd (issue 13, items 1 and 2). scripts/cgroup2-vm.sh
// boots Debian's kernel under QEMU (TCG) twice, once per cgroup driver: cgroupfs (shell init) and
// systemd (systemd as init, plus rootful Podman). In each boot test/vm/cgroup2-checks.mjs runs
// `dockwatch all`, real containers and the agent in a container (private and host cgroup namespace),
// and prints what it measured as DWRESULT lines; this file judges them. A missing qemu or kernel is a
// failure, not a skip: the script installs them (Debian packages, as root).
// DWVM_CONSOLE=<file> judges a saved console instead of booting (for working on the assertions);
// DWVM_MODES=cgroupfs boots only that driver (the systemd boot has not completed a run yet).
// Not in test/integration yet (so not in `npm test`): move it there once both boots pass.
// Run it under the heavy lock: flock /tmp/dockwatch-heavy.lock node --import tsx --test test/vm/cgroup2-vm.test.ts
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;
/**
 * CPU tolerance, in points of one core, around the 50 % that `--cpus 0.5` allows. CFS enforces the
 * quota per 100 ms period in guest time, but under TCG the guest's clock and scheduling are coarse and
 * the agent samples 2 s windows while other guest work (dockerd, the server, this script) competes for
 * two emulated CPUs: single 2 s readings were seen 10 points either side. ±15 on the mean of the
 * window's samples still fails a reader that is off by a factor (e.g. usec taken as nsec, or one
 * core counted as the whole host), and the agent must also agree with the file's own delta over the
 * same window within 15 points: the agent divides by /proc/stat's CPU time as `docker stats` does,
 * the file delta by the wall clock, and the two part when the host starves the guest (seen: agent
 * 60.8, docker stats 67.5, file delta 47.0 while the host built a disk image; 52.4 / 57.9 / 49.9 on a
 * quiet host).
 */
const CPU_TOL = 15;
const CPU_VS_FILE_TOL = 15;

interface R { mode: string; case: string; agentId?: string; [k: string]: any }
let results: R[] = [];
let consoleText = '';

function runScript(): Promise<string> {
  return new Promise((resolve, reject) => {
    const modes = (process.env.DWVM_MODES ?? 'cgroupfs systemd').split(/[ ,]+/).filter(Boolean);
    const child = spawn('bash', [join(REPO, 'scripts/cgroup2-vm.sh'), ...modes], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`scripts/cgroup2-vm.sh exited ${code}:\n${out.slice(-4000)}`))));
  });
}

before(async () => {
  consoleText = process.env.DWVM_CONSOLE ? readFileSync(process.env.DWVM_CONSOLE, 'utf8') : await runScript();
  mkdirSync(join(REPO, '.test-artifacts'), { recursive: true });
  writeFileSync(join(REPO, '.test-artifacts/cgroup2-vm-console.log'), consoleText);
  results = consoleText.split('\n').filter((l) => l.startsWith('DWRESULT ')).map((l) => JSON.parse(l.slice(9)) as R);
});

const get = (mode: string, name: string, agentId?: string): R => {
  const r = results.find((x) => x.mode === mode && x.case === name && (agentId === undefined || x.agentId === agentId));
  assert.ok(r, `no ${name} result for ${mode}${agentId ? `/${agentId}` : ''}; console tail:\n${consoleText.slice(-3000)}`);
  return r;
};
const near = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);

/** The value cases for one agent in one boot. */
function valueCases(mode: string, agentId: string) {
  test(`${agentId}: --cpus 0.5 busy loop reads 50 % ± ${CPU_TOL}, like the file's delta and docker stats`, () => {
    const r = get(mode, 'cpu', agentId);
    const m = JSON.stringify({ agentSamples: r.agentSamples, agentMean: r.agentMean, filePercent: r.filePercent, dockerStats: r.dockerStats });
    assert.ok(r.agentSamples.length >= 3, `at least 3 agent samples in the window: ${m}`);
    near(r.agentMean, 50, CPU_TOL, `agent mean vs the limit ${m}`);
    near(r.agentMean, r.filePercent, CPU_VS_FILE_TOL, `agent mean vs cpu.stat usage_usec over the window ${m}`);
    near(r.dockerStats, 50, CPU_TOL, `docker stats in the same window ${m}`);
  });
  test(`${agentId}: -m 64m with 48 MiB in /dev/shm: memory equals docker stats and memory.current - inactive_file`, () => {
    const r = get(mode, 'memory', agentId);
    const m = `agent ${r.agent.memUsage}, docker stats ${r.dockerStats.memUsage}, files ${r.files.memUsage} (memory.current ${r.files.memCurrent} - inactive_file ${r.files.inactiveFile})`;
    assert.equal(r.agent.source, 'cgroup', m);
    assert.ok(r.files.memUsage >= 48 * MiB, `48 MiB are charged: ${m}`);
    near(r.agent.memUsage, r.files.memUsage, 1 * MiB, `agent vs files: ${m}`);
    // docker stats prints MiB with two decimals and reads a moment later.
    near(r.agent.memUsage, r.dockerStats.memUsage, 1 * MiB, `agent vs docker stats: ${m}`);
    assert.equal(r.agent.memLimit, 64 * MiB, `limit ${r.agent.memLimit}`);
  });
  test(`${agentId}: pids equal pids.current and docker stats`, () => {
    const r = get(mode, 'pids', agentId);
    const m = `agent ${r.agent.pids}, docker stats ${r.dockerStats.pids}, pids.current ${r.files.pids}`;
    assert.equal(r.agent.pids, 6, m); // 5 background sleeps and the sleep that `exec` made of sh
    assert.equal(r.agent.pids, r.files.pids, m);
    assert.equal(r.agent.pids, r.dockerStats.pids, m);
  });
  test(`${agentId}: block I/O from io.stat equals the file and the Engine API`, () => {
    const r = get(mode, 'io', agentId);
    const m = `agent r/w ${r.agent.blkRead}/${r.agent.blkWrite}, io.stat ${r.files.io?.read}/${r.files.io?.write}, Engine API ${r.engineApi.read}/${r.engineApi.write}, docker stats ${r.dockerStats.blkRead}/${r.dockerStats.blkWrite}`;
    assert.ok(r.files.io.write >= 32 * MiB, `32 MiB written and synced: ${m}`);
    assert.equal(r.agent.blkWrite, r.files.io.write, m);
    assert.equal(r.agent.blkRead, r.files.io.read, m);
    assert.equal(r.agent.blkWrite, r.engineApi.write, m);
  });
  test(`${agentId}: network on the default bridge equals /proc/<pid>/net/dev and the Engine API; --network none reads 0`, () => {
    const r = get(mode, 'net', agentId);
    const m = `agent rx/tx ${r.agent.netRx}/${r.agent.netTx}, net/dev ${r.files.net.rx}/${r.files.net.tx}, Engine API ${r.engineApi.rx}/${r.engineApi.tx}`;
    assert.ok(r.agent.netTx >= 20 * 1000, `20 pings of 1000 bytes went out: ${m}`);
    // rx grows by itself (the VM's side of the bridge sends IPv6 router/neighbour solicitations):
    // the agent's sample is up to one interval older than the file read.
    near(r.agent.netRx, r.files.net.rx, 1024, m);
    near(r.agent.netRx, r.engineApi.rx, 1024, m);
    assert.equal(r.agent.netTx, r.files.net.tx, m);
    assert.equal(r.agent.netTx, r.engineApi.tx, m);
    const none = get(mode, 'net-none', agentId);
    assert.deepEqual([none.agent.netRx, none.agent.netTx], [0, 0], 'loopback traffic is not counted');
  });
  test(`${agentId}: every container read from the cgroup files`, () => {
    const r = get(mode, 'sources', agentId);
    for (const [n, s] of Object.entries(r.sources as Record<string, string>)) {
      assert.equal(s, n === 'dw-noio' ? 'engine-api' : 'cgroup', `${n}: ${JSON.stringify(r.sources)}`);
    }
  });
}

const MODES = (process.env.DWVM_MODES ?? 'cgroupfs systemd').split(/[ ,]+/).filter(Boolean);
for (const mode of MODES) {
  describe(`cgroup v2, ${mode} driver`, () => {
    test('the boot ran every case', () => {
      const e = get(mode, 'engine');
      assert.equal(e.driver, mode);
      assert.equal(e.cgroupVersion, '2');
      const done = get(mode, 'done');
      assert.equal(done.ok, true, done.error);
    });
    valueCases(mode, 'host-process');
    test('a controller not enabled in cgroup.subtree_control: one warning, the Engine API fills in', () => {
      const r = get(mode, 'missing-controller');
      const m = JSON.stringify(r);
      assert.equal(r.ioStatExists, false, `io.stat is gone: ${m}`);
      assert.equal(r.agent.source, 'engine-api', m);
      assert.equal(r.warnCount, 1, m);
    });
    for (const agentId of ['ctr-private', 'ctr-hostns']) {
      describe(`the agent in a container, ${agentId === 'ctr-private' ? 'private' : 'host'} cgroup namespace`, () => {
        test('it runs, in the cgroup namespace asked for', () => {
          const r = get(mode, 'in-container-setup', agentId);
          assert.notEqual(r.ok, false, JSON.stringify(r));
          if (agentId === 'ctr-private') assert.notEqual(r.agentCgroupns, r.hostCgroupns, JSON.stringify(r));
          else assert.equal(r.agentCgroupns, r.hostCgroupns, JSON.stringify(r));
        });
        valueCases(mode, agentId);
      });
    }
  });
}

describe('Podman (rootful, systemd cgroup manager)', { skip: !MODES.includes('systemd') && 'DWVM_MODES has no systemd boot' }, () => {
  const mode = 'systemd';
  test('the agent lists and reads podman containers from machine.slice/libpod-<id>.scope', () => {
    const r = get(mode, 'podman-setup');
    assert.equal(r.ok, true, JSON.stringify(r));
    for (const d of Object.values(r.dirs as Record<string, string>)) assert.match(d, /machine\.slice\/libpod-[0-9a-f]{64}\.scope$/);
  });
  test(`--cpus 0.5 reads 50 % ± ${CPU_TOL}`, () => {
    const r = get(mode, 'podman-cpu');
    const m = JSON.stringify(r);
    near(r.agentMean, 50, CPU_TOL, m);
    near(r.agentMean, r.filePercent, CPU_VS_FILE_TOL, m);
  });
  test('memory and pids equal the files and podman stats', () => {
    const mem = get(mode, 'podman-memory');
    const m = JSON.stringify(mem);
    assert.equal(mem.agent.source, 'cgroup', m);
    assert.ok(mem.files.memUsage >= 48 * MiB, m);
    near(mem.agent.memUsage, mem.files.memUsage, 1 * MiB, m);
    const p = get(mode, 'podman-pids');
    assert.equal(p.agent.source, 'cgroup', JSON.stringify(p));
    assert.equal(p.agent.pids, p.files.pids, JSON.stringify(p));
  });
  test('it follows podman\'s events: a stop and a start arrive on /ws', () => {
    const r = get(mode, 'podman-events');
    const m = JSON.stringify(r);
    assert.ok(r.events.some((e: any) => e.name === 'pd-pids' && /die|stop/.test(e.action)), m);
    assert.ok(r.events.some((e: any) => e.name === 'pd-late' && e.action === 'start'), m);
    assert.equal(r.late?.source, 'cgroup', m);
  });
});
