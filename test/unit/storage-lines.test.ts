import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerSample } from '../../src/domain/types.js';
import { alertToLine, batchToBuffer, batchToLines, containerLineWithPoint } from '../../src/infrastructure/influx/points.js';
import { containerSample, makeBatch } from '../helpers/storage-batches.js';

/** The write path's line for one container (undefined when it has no field). */
const containerLine = (host: string, c: ContainerSample): string | undefined =>
  batchToBuffer({ agentId: 'a', hostname: host, sequence: 1, timestampMs: c.timestampMs, host: null, containers: [c], events: [], complete: false, intervalMs: 1000 })
    .body.toString('utf8') || undefined;

test('the cached line builder writes exactly what Point writes, escaping included', () => {
  const tricky: Array<[string, string, string, string]> = [
    ['host-a', 'abc123', 'web', 'nginx:1.27'],
    ['my host', 'id,with,commas', 'name=with=equals', 'registry.local:5000/app:v1 beta'],
    ['h', 'ü-ñ-日本', 'quote"name', 'back\\slash'],
    ['h', 'noimage', 'n', ''],
  ];
  tricky.forEach(([host, id, name, image], i) => {
    const c = { ...containerSample(id, 1_795_000_000_000 + i, i), name, image };
    assert.equal(containerLine(host, c), containerLineWithPoint(host, c));
    // Second call hits the cache and must still match.
    assert.equal(containerLine(host, { ...c, cpuPercent: 12.345 }), containerLineWithPoint(host, { ...c, cpuPercent: 12.345 }));
  });
  const withNaN = { ...containerSample('nan', 1, 1), cpuPercent: NaN, memPercent: Infinity };
  const line = containerLine('h', withNaN)!;
  assert.equal(line, containerLineWithPoint('h', withNaN));
  assert.doesNotMatch(line, /cpu_percent|mem_percent=/);
});

test('batchToLines: one line per container plus the host line, ms timestamps', () => {
  const b = makeBatch('agent-1', 'host-1', ['c1', 'c2'], 1_795_000_000_123, 4);
  const lines = batchToLines(b);
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^container,container_id=c1,container_name=web-c1,host=host-1,image=nginx:1\.27 blk_read_bytes=16384,.* 1795000000123$/);
  assert.match(lines[2]!, /^host,agent_id=agent-1,host=host-1 cpu_percent=24,.* 1795000000123$/);
  assert.equal(batchToLines({ ...b, host: null }).length, 2);
  const a = alertToLine({ id: 'x', ruleId: 'r', severity: 'critical', state: 'firing', host: 'h', containerId: 'c', containerName: 'n',
    value: 1, threshold: 2, message: 'say "hi"', timestampMs: 5 });
  assert.match(a, /^alert,container_id=c,host=h,rule_id=r,severity=critical,state=firing .*message="say \\"hi\\"".* 5$/);
});

test('batchToBuffer writes exactly batchToLines joined by newlines, for awkward numbers and names too', () => {
  const b = makeBatch('agent-1', 'host 1', ['c1', 'id,2', 'ü3'], 1_795_000_000_123, 4);
  // Every digit count on both sides of each power of ten (integers are written in 8-digit halves).
  const edges = Array.from({ length: 16 }, (_, k) => [10 ** k - 1, 10 ** k, 10 ** k + 1, 10 ** k + 10 ** Math.max(0, k - 8) * 7]).flat();
  const odd = [0, 7, 10, 99, 100, 12.345, -3, -0.5, 1e21, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 5e-7, NaN, Infinity, 100_000_000_000_012, ...edges];
  for (let i = 0; i < odd.length; i++) {
    const c = b.containers[i % 3]!;
    const v = odd[i]!;
    const variant = { ...b, containers: b.containers.map((x) => (x === c ? { ...x, cpuPercent: v, netRxBytes: v, pids: Math.abs(v) } : x)) };
    const { body, count } = batchToBuffer(variant);
    const lines = batchToLines(variant);
    assert.equal(body.toString('utf8'), lines.join('\n'), `value ${v}`);
    assert.equal(count, lines.length);
  }
  const allNaN = { ...b, host: null, containers: [{ ...b.containers[0]!, ...Object.fromEntries(['cpuPercent', 'memUsageBytes', 'memLimitBytes', 'memPercent', 'netRxBytes', 'netTxBytes', 'blkReadBytes', 'blkWriteBytes', 'pids'].map((k) => [k, NaN])) }, b.containers[1]!] };
  assert.equal(batchToBuffer(allNaN).body.toString(), batchToLines(allNaN).join('\n'), 'a line without fields is left out');
  assert.equal(batchToBuffer(allNaN).count, 1);
  // A batch larger than the scratch buffer grows it.
  const big = makeBatch('a', 'h', Array.from({ length: 3000 }, (_, k) => `big${k}`), 1_795_000_000_000, 1);
  assert.equal(batchToBuffer(big).body.toString(), batchToLines(big).join('\n'));
});
