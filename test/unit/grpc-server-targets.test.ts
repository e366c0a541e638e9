// SERVER_ADDR with several servers: parsing, resolution of names with several addresses, and the
// rendezvous ranking that spreads agents and their failovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerList, rank, resolveTargets } from '../../src/infrastructure/grpc/server-targets.js';
import { EnvReader } from '../../src/config/env.js';

test('a comma list is parsed; a bad entry is named', () => {
  assert.deepEqual(parseServerList('127.0.0.1:1, [::1]:2,dw:3'), [{ host: '127.0.0.1', port: 1 }, { host: '::1', port: 2 }, { host: 'dw', port: 3 }]);
  assert.throws(() => parseServerList('127.0.0.1:1,nope'), /"nope"/);
});

test('SERVER_ADDR: a list is validated at start-up and the bad entry named', () => {
  const ok = new EnvReader({ SERVER_ADDR: '127.0.0.1:1,127.0.0.2:2' });
  assert.equal(ok.hostPortList('SERVER_ADDR', '127.0.0.1:50051'), '127.0.0.1:1,127.0.0.2:2');
  assert.deepEqual(ok.problems, []);
  const bad = new EnvReader({ SERVER_ADDR: '127.0.0.1:1,dw:99999' });
  bad.hostPortList('SERVER_ADDR', '127.0.0.1:50051');
  assert.match(bad.problems[0]!, /^SERVER_ADDR=.*"dw:99999" is not/);
});

test('a name with several addresses becomes one target each; one address or none is left to grpc-js', async () => {
  const resolve = async (h: string) => ({ many: ['10.0.0.1', '10.0.0.2', 'fd00::3'], one: ['10.0.0.9'], none: [] as string[] }[h] ?? []);
  const t = await resolveTargets('many:50051', resolve);
  assert.deepEqual(t.map((x) => x.address), ['10.0.0.1:50051', '10.0.0.2:50051', '[fd00::3]:50051']);
  assert.ok(t.every((x) => x.hostname === 'many'));
  assert.deepEqual((await resolveTargets('one:1,none:2,127.0.0.1:3,127.0.0.1:3', resolve)).map((x) => x.address), ['one:1', 'none:2', '127.0.0.1:3']);
  const failing = async () => { throw new Error('ENOTFOUND'); };
  assert.deepEqual((await resolveTargets('gone:1', failing)).map((x) => x.address), ['gone:1']);
});

test('rendezvous ranking: first choices spread evenly, and the agents of a lost server spread over the others', () => {
  const targets = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'].map((address) => ({ address, hostname: undefined }));
  const first = new Map<string, number>();
  const secondOfFirst = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const r = rank(`agent-${i}`, targets);
    first.set(r[0]!.address, (first.get(r[0]!.address) ?? 0) + 1);
    if (r[0]!.address === '127.0.0.1:1') secondOfFirst.set(r[1]!.address, (secondOfFirst.get(r[1]!.address) ?? 0) + 1);
    assert.deepEqual(rank(`agent-${i}`, [...targets].reverse()), r, 'the order of the list does not matter');
  }
  for (const n of first.values()) assert.ok(n > 900 && n < 1100, `first choices ${[...first.values()]}`);
  const [a, b] = [...secondOfFirst.values()];
  assert.ok(a! > 400 && b! > 400, `failovers of server 1 spread: ${[...secondOfFirst.entries()]}`);
  // A fourth server takes only about a quarter of the agents; the rest keep their first choice.
  const four = [...targets, { address: '127.0.0.1:4', hostname: undefined }];
  let moved = 0;
  for (let i = 0; i < 3000; i++) if (rank(`agent-${i}`, four)[0]!.address !== rank(`agent-${i}`, targets)[0]!.address) moved++;
  assert.ok(moved > 600 && moved < 900, `moved ${moved}`);
});
