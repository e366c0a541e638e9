// cgroup v2 on a real Linux kernel with a real dockerd (issue 13, items 1 and 2). scripts/cgroup2-vm.sh
// boots Debian's kernel under QEMU (TCG) twice, once per cgroup driver: cgroupfs (shell init) and
// systemd (systemd as init, plus Podman rootful and rootless). In each boot test/vm/cgroup2-checks.mjs
// runs `dockwatch all`, real containers and the agent in a container (private and host cgroup
// namespace), and prints what it measured as DWRESULT lines; this file judges them. A missing qemu,
// kernel or mmdebstrap is a failure, not a skip: the script installs them (Debian packages, as root).
// The two boots take 10-15 min: scripts/test.sh runs this file on its own with a longer timeout (the
// runner's --test-timeout bounds a whole file, before() included, and a file cannot raise it).
// DWVM_CONSOLE=<file> judges a saved console instead of booting (for working on the assertions);
// DWVM_MODES=cgroupfs boots only that driver. Run it alone under the heavy lock:
//   flock /tmp/dockwatch-heavy.lock node --import tsx --test --test-timeout=1800000 test/integration/cgroup2-vm.test.ts
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
/**
 * The agent's mean against the docker stats formula computed by the checks from the same files over
 * the window (cpu.stat usage over /proc/stat's CPU time): the same arithmetic, so only the windows
 * differ (the agent's 2 s samples inside the test's ~12 s one). Tight enough to catch a wrong
 * denominator (the CPU count, USER_HZ) that the wall-clock checks above would let through.
 */
const CPU_FORMULA_TOL = 5;

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
    child.on('exit', (code) => {
      saveConsole(out); // kept for reading when the script failed too
      if (code === 0) resolve(out);
      else reject(new Error(`scripts/cgroup2-vm.sh exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

function saveConsole(text: string): void {
  mkdirSync(join(REPO, '.test-artifacts'), { recursive: true });
  writeFileSync(join(REPO, '.test-artifacts/cgroup2-vm-console.log'), text);
}

before(async () => {
  consoleText = process.env.DWVM_CONSOLE ? readFileSync(process.env.DWVM_CONSOLE, 'utf8') : await runScript();
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
    const m = JSON.stringify({ agentSamples: r.agentSamples, agentMean: r.agentMean, filePercent: r.filePercent, statFormulaPercent: r.statFormulaPercent, procStatVsWall: r.procStatVsWall, dockerStats: r.dockerStats });
    assert.ok(r.agentSamples.length >= 3, `at least 3 agent samples in the window: ${m}`);
    near(r.agentMean, 50, CPU_TOL, `agent mean vs the limit ${m}`);
    near(r.agentMean, r.filePercent, CPU_VS_FILE_TOL, `agent mean vs cpu.stat usage_usec over the window ${m}`);
    near(r.agentMean, r.statFormulaPercent, CPU_FORMULA_TOL, `agent mean vs usage over /proc/stat's CPU time in the window ${m}`);
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

for (const kind of ['rootful', 'rootless'] as const) {
  const c = kind === 'rootful' ? 'podman' : 'podman-rootless';
  const p = kind === 'rootful' ? 'pd-' : 'pdr-';
  const dir = kind === 'rootful'
    ? /^\/sys\/fs\/cgroup\/machine\.slice\/libpod-[0-9a-f]{64}\.scope$/
    : /^\/sys\/fs\/cgroup\/user\.slice\/user-1000\.slice\/user@1000\.service\/.+\/libpod-[0-9a-f]{64}\.scope$/;
  describe(`Podman 4.x ${kind} (systemd cgroup manager, podman system service)`, { skip: !MODES.includes('systemd') && 'DWVM_MODES has no systemd boot' }, () => {
    const mode = 'systemd';
    test(`the agent lists and inspects podman containers and reads them from ${kind === 'rootful' ? 'machine.slice/libpod-<id>.scope' : 'user@1000.service/.../libpod-<id>.scope'}`, () => {
      const r = get(mode, `${c}-setup`);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.match(r.version, /^4\./, JSON.stringify(r));
      assert.match(r.cgroupManager, new RegExp(`^systemd v2 rootless=${kind === 'rootless'}`), JSON.stringify(r));
      for (const d of Object.values(r.dirs as Record<string, string>)) assert.match(d, dir);
      const mem = get(mode, `${c}-memory`);
      assert.deepEqual([mem.agent.state, mem.agent.image], ['running', 'localhost/dockwatch-test/busybox:latest'], JSON.stringify(mem.agent));
    });
    test(`--cpus 0.5 reads 50 % ± ${CPU_TOL}, like the file's delta and podman stats`, () => {
      const r = get(mode, `${c}-cpu`);
      const m = JSON.stringify(r);
      assert.ok(r.agentSamples.length >= 3, m);
      near(r.agentMean, 50, CPU_TOL, m);
      near(r.agentMean, r.filePercent, CPU_VS_FILE_TOL, m);
      near(r.agentMean, r.statFormulaPercent, CPU_FORMULA_TOL, m);
      near(r.dockerStats, 50, CPU_TOL, `podman stats ${m}`);
    });
    test('memory, pids and block I/O equal the cgroup files; podman stats: the same pids, memory by its own definition', () => {
      const mem = get(mode, `${c}-memory`);
      const m = JSON.stringify(mem);
      assert.equal(mem.agent.source, 'cgroup', m);
      assert.ok(mem.files.memUsage >= 48 * MiB, m);
      near(mem.agent.memUsage, mem.files.memUsage, 1 * MiB, m);
      assert.equal(mem.agent.memLimit, 64 * MiB, m);
      // podman 4.3's stats show memory.stat anon only (~50 kB for a sleeping busybox): no page cache,
      // the 48 MiB of shm and kernel memory left out, where docker's leave out inactive_file only.
      // The agent stays with docker's. (podman prints 4 significant digits.)
      for (const r of [mem, get(mode, `${c}-io`)]) {
        near(r.podmanStats.memUsage, r.files.anon, 0.01 * r.files.anon + 1024, `podman stats vs memory.stat anon: ${JSON.stringify(r)}`);
      }
      const pids = get(mode, `${c}-pids`);
      assert.equal(pids.agent.source, 'cgroup', JSON.stringify(pids));
      assert.equal(pids.agent.pids, 4, JSON.stringify(pids));
      assert.equal(pids.agent.pids, pids.files.pids, JSON.stringify(pids));
      assert.equal(pids.agent.pids, pids.podmanStats.pids, JSON.stringify(pids));
      const io = get(mode, `${c}-io`);
      assert.equal(io.agent.source, 'cgroup', JSON.stringify(io));
      assert.ok(io.files.io.write >= 16 * MiB, JSON.stringify(io));
      assert.equal(io.agent.blkWrite, io.files.io.write, JSON.stringify(io));
    });
    test('it follows podman\'s events: the stopped container\'s exit ("died" in podman 4) and a start arrive on /ws', () => {
      const r = get(mode, `${c}-events`);
      const m = JSON.stringify({ ...r, raw: get(mode, `${c}-raw-events`).lines });
      assert.ok(r.events.some((e: any) => e.name === `${p}pids` && e.action === 'die'), m);
      assert.ok(r.events.some((e: any) => e.name === `${p}late` && e.action === 'start'), m);
      assert.equal(r.stopped?.state, 'exited', m);
      assert.equal(r.late?.source, 'cgroup', m);
    });
  });
}
