import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertToLine, batchToLines, containerLine, containerLineWithPoint } from '../../src/infrastructure/influx/points.js';
import { containerSample, makeBatch } from '../helpers/storage-batches.js';

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
