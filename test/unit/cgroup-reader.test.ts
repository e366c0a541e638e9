// The file-reading shell on temporary /proc and /sys trees laid out like real v1 and v2 hosts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerInfo } from '../../src/application/ports.js';
import { createCgroupUsageReader } from '../../src/infrastructure/cgroup/reader.js';

const FX = fileURLToPath(new URL('../fixtures/cgroup/', import.meta.url));
const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const MEM_TOTAL_KB = 24683656;

function put(root: string, rel: string, content: string) {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}
function fx(root: string, rel: string, fixture: string) {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  copyFileSync(join(FX, fixture), p);
}

/** A host with /proc (stat, meminfo, the container pid's net/dev and netns) under a temp root. */
function hostTree(pid: number, sharedNetns = false): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-reader-'));
  roots.push(root);
  fx(root, 'proc/stat', 'proc-stat');
  put(root, 'proc/meminfo', `MemTotal:       ${MEM_TOTAL_KB} kB\nMemFree:  1 kB\n`);
  fx(root, `proc/${pid}/net/dev`, 'container-net-dev');
  mkdirSync(join(root, 'proc/1/ns'), { recursive: true });
  mkdirSync(join(root, `proc/${pid}/ns`), { recursive: true });
  symlinkSync('net:[4026531840]', join(root, 'proc/1/ns/net'));
  symlinkSync(sharedNetns ? 'net:[4026531840]' : 'net:[4026532999]', join(root, `proc/${pid}/ns/net`));
  return root;
}

function v1Container(root: string, rel: string, opts: { unlimited?: boolean } = {}) {
  const base = 'sys/fs/cgroup';
  fx(root, `${base}/cpuacct/${rel}/cpuacct.usage`, 'v1/cpuacct.usage');
  fx(root, `${base}/memory/${rel}/memory.usage_in_bytes`, 'v1/memory.usage_in_bytes');
  const stat = readFileSync(join(FX, 'v1/memory.stat'), 'latin1')
    .replace('total_inactive_file 0', 'total_inactive_file 1048576')
    .replace('hierarchical_memory_limit 268435456', `hierarchical_memory_limit ${opts.unlimited ? '9223372036854771712' : '268435456'}`);
  put(root, `${base}/memory/${rel}/memory.stat`, stat);
  fx(root, `${base}/blkio/${rel}/blkio.throttle.io_service_bytes`, 'v1/blkio.throttle.io_service_bytes');
  fx(root, `${base}/pids/${rel}/pids.current`, 'v1/pids.current');
}

function v2Container(root: string, rel: string) {
  put(root, 'sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory pids\n');
  for (const f of ['cpu.stat', 'memory.current', 'memory.max', 'memory.stat', 'io.stat', 'pids.current']) {
    fx(root, `sys/fs/cgroup/${rel}/${f}`, `v2/${f}`);
  }
}

const ID = 'a9efe17973a28834b099e166f6121fa52c97d2f969c0a0654ac1b7a7e99c447f';
function container(over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: ID, name: 'probe', image: 'img', labels: {}, state: 'running', health: 'none', restartCount: 0, exitCode: 0,
    oomKilled: false, startedAtMs: 1, pid: 4242, cgroupParent: '', ...over,
  };
}

const SYSTEM_NS = (41803 + 0 + 5220 + 96383 + 493 + 0 + 133) * 1e7;

test('v1 cgroupfs layout (<ctrl>/docker/<id>): every counter read, cache subtracted, net without lo', async () => {
  const root = hostTree(4242);
  v1Container(root, `docker/${ID}`);
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), clock: () => 77 });
  const u = await r.read(container());
  assert.deepEqual(u, {
    timestampMs: 77, cpuUsageNs: 160004587530, systemCpuNs: SYSTEM_NS, onlineCpus: 2,
    memRawUsageBytes: 17145856, memInactiveFileBytes: 1048576, memLimitBytes: 268435456,
    netRxBytes: 124456, netTxBytes: 65932, blkReadBytes: 5096, blkWriteBytes: 12288, pids: 1, source: 'cgroup',
  });
});

test('v1 unlimited memory becomes the host total; host network namespace reads no network', async () => {
  const root = hostTree(4242, true);
  v1Container(root, `docker/${ID}`, { unlimited: true });
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') });
  const u = await r.read(container());
  assert.equal(u?.memLimitBytes, MEM_TOTAL_KB * 1024);
  assert.deepEqual([u?.netRxBytes, u?.netTxBytes], [0, 0]);
});

test('v1 found through CgroupParent, and through /proc/<pid>/cgroup as the last resort', async () => {
  const root = hostTree(4242);
  v1Container(root, `myparent/${ID}`);
  let now = 1000;
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), clock: () => now });
  assert.equal(await r.read(container()), null, 'not in a default place and no parent given');
  assert.equal(await r.read(container({ cgroupParent: '/myparent' })), null, 'a miss is remembered for a while (same pid)');
  now += 31_000;
  assert.equal((await r.read(container({ cgroupParent: '/myparent' })))?.cpuUsageNs, 160004587530, 'and searched again later');
  assert.equal((await r.read(container({ pid: 999, cgroupParent: '/nowhere' })))?.cpuUsageNs, undefined);
  assert.equal((await r.read(container({ pid: 1000, cgroupParent: '/myparent' })))?.cpuUsageNs, 160004587530, 'a new pid searches at once');

  const root2 = hostTree(5151);
  v1Container(root2, `odd/place/${ID}`);
  put(root2, 'proc/5151/cgroup', `2:cpuacct:/odd/place/${ID}\n4:memory:/odd/place/${ID}\n7:blkio:/odd/place/${ID}\n8:pids:/odd/place/${ID}\n`);
  const r2 = createCgroupUsageReader({ procRoot: join(root2, 'proc'), sysRoot: join(root2, 'sys') });
  const u = await r2.read(container({ pid: 5151 }));
  assert.equal(u?.memRawUsageBytes, 17145856);
  assert.equal(u?.pids, 1);
});

test('v2 systemd layout (system.slice/docker-<id>.scope) and the /proc fallback', async () => {
  const root = hostTree(4242);
  v2Container(root, `system.slice/docker-${ID}.scope`);
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') });
  const u = await r.read(container());
  assert.deepEqual(u && {
    cpu: u.cpuUsageNs, raw: u.memRawUsageBytes, inactive: u.memInactiveFileBytes, limit: u.memLimitBytes,
    read: u.blkReadBytes, write: u.blkWriteBytes, pids: u.pids,
  }, { cpu: 8123456000, raw: 71303168, inactive: 2031616, limit: 268435456, read: 1050624, write: 12288, pids: 3 });

  const root2 = hostTree(4242);
  v2Container(root2, 'kubepods/burstable/pod1/ctr');
  writeFileSync(join(root2, 'sys/fs/cgroup/kubepods/burstable/pod1/ctr/memory.max'), 'max\n');
  put(root2, 'proc/4242/cgroup', '0::/kubepods/burstable/pod1/ctr\n');
  const r2 = createCgroupUsageReader({ procRoot: join(root2, 'proc'), sysRoot: join(root2, 'sys') });
  const u2 = await r2.read(container());
  assert.equal(u2?.cpuUsageNs, 8123456000);
  assert.equal(u2?.memLimitBytes, MEM_TOTAL_KB * 1024, 'v2 "max" becomes the host total');
});

test('not running -> null; a new run (new pid) is resolved again; a cgroup that is gone -> null', async () => {
  const root = hostTree(4242);
  v1Container(root, `docker/${ID}`);
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') });
  assert.equal(await r.read(container({ state: 'exited', pid: 0 })), null);
  assert.ok(await r.read(container()));
  assert.ok(r.openFiles() >= 5, 'files stay open between reads');
  // The container restarted under a new cgroup path (its old files are gone): found by the new pid.
  rmSync(join(root, 'sys/fs/cgroup'), { recursive: true });
  assert.equal(await r.read(container({ pid: 4343 })), null, 'no cgroup anywhere');
  v1Container(root, `docker/${ID}`);
  writeFileSync(join(root, `sys/fs/cgroup/cpuacct/docker/${ID}/cpuacct.usage`), '42\n');
  assert.equal(await r.read(container({ pid: 4343 })), null, 'the miss is remembered for this pid');
  assert.equal((await r.read(container({ pid: 4444 })))?.cpuUsageNs, 42, 'the next run is found');
  // Counters are re-read each time through the kept descriptors.
  writeFileSync(join(root, `sys/fs/cgroup/cpuacct/docker/${ID}/cpuacct.usage`), '43\n');
  assert.equal((await r.read(container({ pid: 4444 })))?.cpuUsageNs, 43);
  r.close();
  assert.equal(r.openFiles(), 0);
});

test('syncReads mode reads the same values', async () => {
  const root = hostTree(4242);
  v2Container(root, `system.slice/docker-${ID}.scope`);
  const a = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), clock: () => 1 });
  const b = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), clock: () => 1, syncReads: true });
  assert.deepEqual(await b.read(container()), await a.read(container()));
  assert.deepEqual(await b.read(container()), await a.read(container()));
  a.close();
  b.close();
});

test('v2 with a controller not enabled (no io.stat): null, so the Engine API serves it, and one warning, not a silent 0', async () => {
  const root = hostTree(4242);
  v2Container(root, `system.slice/docker-${ID}.scope`);
  rmSync(join(root, `sys/fs/cgroup/system.slice/docker-${ID}.scope/io.stat`));
  const warns: unknown[][] = [];
  const log = { warn: (...a: unknown[]) => warns.push(a), debug: () => undefined, info: () => undefined, error: () => undefined, child: () => log };
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), log: log as never, clock: (() => { let t = 0; return () => (t += 40_000); })() });
  assert.equal(await r.read(container()), null);
  assert.equal(await r.read(container()), null, 'still missing after the retry delay');
  assert.equal(warns.length, 1, 'logged once');
  assert.match(String(warns[0]![1]), /Engine API/);
  assert.deepEqual((warns[0]![0] as { missing: string[] }).missing, ['io.stat']);
  // The controller is enabled again: read from the files.
  fx(root, `sys/fs/cgroup/system.slice/docker-${ID}.scope/io.stat`, 'v2/io.stat');
  assert.equal((await r.read(container()))?.source, 'cgroup');
  // (A file that vanishes from a kept descriptor reads ENODEV on cgroupfs, not on this tmp tree:
  // the VM test, test/integration/cgroup2-vm.test.ts, covers that on a real kernel.)
});

test('v2 Podman layouts: rootful machine.slice/libpod-<id>.scope, rootless through /proc, relative paths from a private cgroupns', async () => {
  const root = hostTree(4242);
  v2Container(root, `machine.slice/libpod-${ID}.scope`);
  const r = createCgroupUsageReader({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') });
  assert.equal((await r.read(container()))?.cpuUsageNs, 8123456000);

  const rootless = `user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`;
  const root2 = hostTree(4242);
  v2Container(root2, rootless);
  // As an agent in a private cgroup namespace at /system.slice/docker-<agent>.scope sees it.
  put(root2, 'proc/4242/cgroup', `0::/../../${rootless}\n`);
  const r2 = createCgroupUsageReader({ procRoot: join(root2, 'proc'), sysRoot: join(root2, 'sys') });
  assert.equal((await r2.read(container()))?.pids, 3);

  const root3 = hostTree(4242);
  v2Container(root3, 'system.slice/other-runtime-ctr.scope');
  put(root3, 'proc/4242/cgroup', '0::/../other-runtime-ctr.scope\n');
  const r3 = createCgroupUsageReader({ procRoot: join(root3, 'proc'), sysRoot: join(root3, 'sys') });
  assert.equal((await r3.read(container()))?.pids, 3, 'a sibling of our own cgroup');
});
