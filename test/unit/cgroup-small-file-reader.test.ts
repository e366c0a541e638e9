import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSmallFileReader } from '../../src/infrastructure/shared/small-file-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'file-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const sync of [false, true]) {
  test(`kept descriptors re-read kernel files in full (${sync ? 'sync' : 'async'})`, async () => {
    const r = createSmallFileReader({ sync });
    // seq_file and kernfs files whose content does not change between two reads
    const files = ['/proc/version', '/proc/self/cgroup', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/proc/cpuinfo']
      .filter((f) => existsSync(f));
    for (const f of files) {
      const want = readFileSync(f, 'latin1');
      assert.equal(await r.read(f), want, f);
      assert.equal(await r.read(f), want, `${f} again, through the kept descriptor`);
    }
    assert.ok(r.openCount() >= 1 && r.openCount() <= files.length, 'small files stay open');
    r.close();
    assert.equal(r.openCount(), 0);
  });

  test(`rewrites are seen, big files fall back, the open budget holds, missing files reject (${sync ? 'sync' : 'async'})`, async () => {
    const r = createSmallFileReader({ sync, maxOpen: 2, bufferSize: 64 });
    const a = join(dir, `a-${sync}`);
    writeFileSync(a, '1\n');
    assert.equal(await r.read(a), '1\n');
    writeFileSync(a, '22\n');
    assert.equal(await r.read(a), '22\n');
    const big = join(dir, `big-${sync}`);
    writeFileSync(big, 'x'.repeat(200));
    assert.equal((await r.read(big)).length, 200);
    const c = join(dir, `c-${sync}`);
    writeFileSync(c, 'c');
    assert.equal(await r.read(c), 'c');
    assert.equal(r.openCount(), 2, 'budget of two kept files');
    await assert.rejects(r.read(join(dir, 'nope')), /ENOENT/);
    r.forget(a);
    assert.equal(r.openCount(), 1);
    r.close();
  });
}
