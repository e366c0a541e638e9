import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  cpuUsageNsV2, flatKeyed, hasKey, inactiveFile, meminfoBytes, parseBlkioV1, parseIoStatV2, parseNetDev,
  parseProcCgroup, parseProcStat, parseSingleNumber,
} from '../../src/infrastructure/cgroup/parse.js';

const fx = (p: string) => readFileSync(new URL(`../fixtures/cgroup/${p}`, import.meta.url), 'latin1');

test('single-number files: v1 and v2 values, "max" and junk read as 0', () => {
  const cases: [string, number][] = [
    [fx('v1/cpuacct.usage'), 160004587530],
    [fx('v1/memory.usage_in_bytes'), 17145856],
    [fx('v1/memory.limit_in_bytes'), 268435456],
    ['9223372036854771712\n', 9223372036854771712],
    [fx('v2/memory.current'), 71303168],
    [fx('v2/memory.max'), 268435456],
    ['max\n', 0],
    ['', 0],
    ['-1\n', 0],
  ];
  for (const [text, want] of cases) assert.equal(parseSingleNumber(text), want, JSON.stringify(text));
});

test('flat-keyed files: exact key at line start only', () => {
  const v1 = fx('v1/memory.stat');
  assert.equal(flatKeyed(v1, 'hierarchical_memory_limit'), 268435456);
  assert.equal(flatKeyed(v1, 'total_cache'), 16777216);
  assert.equal(flatKeyed(v1, 'cache'), 16777216);
  assert.equal(flatKeyed('inactive_file 5\ntotal_inactive_file 7\n', 'inactive_file'), 5);
  assert.equal(flatKeyed('total_inactive_file 7\ninactive_file 5\n', 'inactive_file'), 5);
  assert.equal(flatKeyed('total_inactive_file 7\n', 'inactive_file'), 0);
  assert.equal(hasKey(v1, 'total_inactive_file'), true);
  assert.equal(hasKey(fx('v2/memory.stat'), 'total_inactive_file'), false);
  assert.equal(inactiveFile('inactive_file 5\ntotal_inactive_file 7\n', 1), 7);
  assert.equal(inactiveFile(fx('v2/memory.stat'), 2), 2031616);
  assert.equal(cpuUsageNsV2(fx('v2/cpu.stat')), 8123456000);
});

test('block I/O: v1 blkio Read/Write summed over devices (Total and Sync skipped), v2 io.stat', () => {
  assert.deepEqual(parseBlkioV1(fx('v1/blkio.throttle.io_service_bytes')), { read: 5096, write: 12288 });
  assert.deepEqual(parseBlkioV1('Total 0\n'), { read: 0, write: 0 });
  assert.deepEqual(parseIoStatV2(fx('v2/io.stat')), { read: 1050624, write: 12288 });
  assert.deepEqual(parseIoStatV2(''), { read: 0, write: 0 });
});

test('net/dev: every interface but lo', () => {
  assert.deepEqual(parseNetDev(fx('container-net-dev')), { rx: 124456, tx: 65932 });
  const host = parseNetDev(fx('host-net-dev'));
  assert.ok(host.rx > 0, 'real host fixture has eth0 traffic');
  assert.deepEqual(parseNetDev('Inter-|\n face |\n    lo: 1 2 3 4 5 6 7 8 9 10\n'), { rx: 0, tx: 0 });
});

test('/proc/stat: user..softirq in ns (USER_HZ 100) and cpuN count', () => {
  assert.deepEqual(parseProcStat('cpu  100 1 20 300 4 5 6 7 8 9\ncpu0 1 0 0 0\ncpu1 1 0 0 0\nintr 1 2\n'), {
    systemCpuNs: (100 + 1 + 20 + 300 + 4 + 5 + 6) * 1e7, onlineCpus: 2,
  });
  const real = parseProcStat(fx('proc-stat'));
  assert.equal(real.onlineCpus, 2);
  assert.equal(real.systemCpuNs, (41803 + 0 + 5220 + 96383 + 493 + 0 + 133) * 1e7);
});

test('/proc/meminfo and /proc/<pid>/cgroup', () => {
  const mi = 'MemTotal:       24683656 kB\nMemFree:        24024968 kB\nMemAvailable:   24209456 kB\n';
  assert.equal(meminfoBytes(mi, 'MemTotal'), 24683656 * 1024);
  assert.equal(meminfoBytes(mi, 'MemAvailable'), 24209456 * 1024);
  assert.equal(meminfoBytes(mi, 'SwapTotal'), 0);
  const v1 = parseProcCgroup(fx('v1/proc-pid-cgroup'));
  assert.equal(v1.v1.get('memory'), '/docker/a9efe17973a28834b099e166f6121fa52c97d2f969c0a0654ac1b7a7e99c447f');
  assert.equal(v1.v1.get('cpuacct'), v1.v1.get('cpu'));
  assert.equal(v1.unified, '/docker/a9efe17973a28834b099e166f6121fa52c97d2f969c0a0654ac1b7a7e99c447f');
  const comounted = parseProcCgroup('4:cpu,cpuacct:/kubepods/pod1/abc\n');
  assert.equal(comounted.v1.get('cpuacct'), '/kubepods/pod1/abc');
  assert.equal(comounted.unified, '');
  assert.equal(parseProcCgroup(fx('v2/proc-pid-cgroup')).unified, `/system.slice/docker-${'1'.repeat(64)}.scope`);
});
