import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostCollector } from '../../src/infrastructure/host/collector.js';
import {
  parseHostNetDev, parseLoadAvg, parseMemInfo, parseProcStatCpus, parseRealMounts, parseUptime,
} from '../../src/infrastructure/host/parse.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const MOUNTS = [
  'proc /proc proc rw,relatime 0 0',
  'sysfs /sys sysfs rw,relatime 0 0',
  'tmpfs /dev/shm tmpfs rw,relatime 0 0',
  '/dev/vda / ext4 rw,relatime 0 0',
  'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
  '/dev/vda /var/lib/docker ext4 rw,relatime 0 0',
  'overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0',
  '/dev/vdb /data\\040disk xfs rw 0 0',
  'server:/export /mnt/nfs nfs4 rw 0 0',
  'nsfs /run/docker/netns/x nsfs rw 0 0',
].join('\n');

test('/proc parsers: cpu lines, loadavg, meminfo, net/dev, uptime, real mounts', () => {
  const st = parseProcStatCpus('cpu  10 0 10 70 10 0 0 0 5 0\ncpu0 5 0 5 35 5 0 0 0\ncpu1 5 0 5 35 5 0 0 0\nintr 1\n');
  assert.deepEqual(st.total, { total: 100, idle: 80 });
  assert.equal(st.perCore.length, 2);
  assert.deepEqual(parseLoadAvg('0.03 0.23 0.15 2/134 9106\n'), { load1: 0.03, load5: 0.23, load15: 0.15 });
  assert.deepEqual(parseMemInfo('MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n'),
    { totalBytes: 1024000, availableBytes: 614400, swapTotalBytes: 51200, swapFreeBytes: 20480 });
  assert.equal(parseMemInfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n').availableBytes, 310 * 1024,
    'kernels without MemAvailable');
  const net = 'Inter-|\n face |\n    lo: 500 1 0 0 0 0 0 0 500 1 0 0 0 0 0 0\n  eth0: 1000 1 0 0 0 0 0 0 200 1 0 0 0 0 0 0\n'
    + '  veth12ab: 70 1 0 0 0 0 0 0 80 1 0 0 0 0 0 0\n';
  assert.deepEqual(parseHostNetDev(net), { rx: 1000, tx: 200 });
  assert.equal(parseUptime('433.58 684.37\n'), 433.58);
  assert.deepEqual(parseRealMounts(MOUNTS).map((m) => `${m.device}@${m.mount}:${m.fsType}`), [
    '/dev/vda@/:ext4', '/dev/vdb@/data disk:xfs', 'server:/export@/mnt/nfs:nfs4',
  ]);
});

test('collector: two rounds give CPU %, memory, disks statfs-ed under hostRoot; missing files fail soft', async () => {
  const root = mkdtempSync(join(tmpdir(), 'host-collector-'));
  roots.push(root);
  const proc = join(root, 'proc');
  mkdirSync(join(proc, '1'), { recursive: true });
  mkdirSync(join(proc, 'net'), { recursive: true });
  const hostRoot = join(root, 'hostroot');
  mkdirSync(hostRoot);
  writeFileSync(join(proc, '1/mounts'), '/dev/vda / ext4 rw 0 0\n/dev/vdz /nonexistent ext4 rw 0 0\nproc /proc proc rw 0 0\n');
  writeFileSync(join(proc, 'stat'), 'cpu  100 0 100 800 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0\n');
  writeFileSync(join(proc, 'loadavg'), '1.50 1.00 0.50 1/100 123\n');
  writeFileSync(join(proc, 'meminfo'), 'MemTotal: 1000 kB\nMemAvailable: 250 kB\nSwapTotal: 100 kB\nSwapFree: 40 kB\n');
  writeFileSync(join(proc, 'uptime'), '1234.5 99\n');
  // no net/dev: that part must fail soft
  let runtime = false;
  const h = createHostCollector({ procRoot: proc, hostRoot, runtimeAvailable: () => runtime, clock: () => 5 });
  const first = await h.collect();
  assert.equal(first.cpuPercent, 0, 'no rate on the first round');
  writeFileSync(join(proc, 'stat'), 'cpu  200 0 200 1400 0 0 0 0\ncpu0 100 0 100 500 0 0 0 0\ncpu1 50 0 50 600 0 0 0 0\n');
  runtime = true;
  const s = await h.collect();
  assert.equal(s.cpuPercent, 25);
  assert.deepEqual(s.cpuPerCorePercent, [50, 0]);
  assert.deepEqual([s.numCpus, s.load1, s.load15, s.uptimeSeconds, s.timestampMs], [2, 1.5, 0.5, 1234.5, 5]);
  assert.deepEqual([s.memTotalBytes, s.memUsedBytes, s.memPercent, s.swapTotalBytes, s.swapUsedBytes],
    [1024000, 768000, 75, 102400, 61440]);
  assert.deepEqual([s.netRxBytes, s.netTxBytes], [0, 0]);
  assert.equal(s.runtimeAvailable, true);
  assert.equal(s.disks.length, 1, 'the mount missing under hostRoot is skipped');
  assert.equal(s.disks[0]!.mount, '/');
  assert.ok(s.disks[0]!.totalBytes > 0 && s.disks[0]!.usedBytes <= s.disks[0]!.totalBytes);
});

test('collector on this machine\'s real /proc', async () => {
  const s = await createHostCollector({ runtimeAvailable: () => false }).collect();
  const memTotalKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
  assert.equal(s.memTotalBytes, memTotalKb * 1024);
  assert.ok(s.numCpus >= 1 && s.cpuPerCorePercent.length === s.numCpus);
  assert.ok(s.disks.some((d) => d.mount === '/'), 'the root filesystem is listed');
  assert.ok(s.uptimeSeconds > 0);
  assert.equal(s.runtimeAvailable, false);
});
