import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeRecords, encodeRecord, openSpool } from '../../src/infrastructure/resilience/spool.js';
import { AppError } from '../../src/application/errors.js';

const made: string[] = [];
const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-spool-')); made.push(d); return d; };
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });
const segs = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();

test('spool: records come back in order across segments, and drained segments are removed', async () => {
  const dir = tmp();
  const spool = await openSpool<{ n: number; pad: string }>({ dir, segmentBytes: 2000 });
  for (let g = 0; g < 10; g++) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => spool.append({ n: g * 10 + k, pad: 'x'.repeat(50) })));
  }
  assert.equal(spool.stats().batches, 100);
  assert.ok(segs(dir).length > 1, 'rolled into several segments');
  const seen: number[] = [];
  const n = await spool.drain(async (items) => { seen.push(...items.map((i) => i.n)); }, 7);
  assert.equal(n, 100);
  // Concurrent appends were group-committed in call order.
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, k) => k));
  assert.equal(spool.stats().batches, 0);
  assert.equal(spool.stats().bytes, 0);
  assert.equal(segs(dir).length, 1, 'only a fresh active segment remains');
  await spool.close();
});

test('spool: a failed handler keeps the chunk; progress survives a reopen', async () => {
  const dir = tmp();
  let spool = await openSpool<number>({ dir });
  for (let i = 0; i < 10; i++) await spool.append(i);
  const seen: number[] = [];
  await assert.rejects(spool.drain(async (items) => {
    if (items[0]! >= 4) throw new Error('store down');
    seen.push(...items);
  }, 2), /store down/);
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.equal(spool.stats().batches, 6);
  await spool.close();
  spool = await openSpool<number>({ dir });
  assert.equal(spool.stats().batches, 6);
  await spool.drain(async (items) => { seen.push(...items); }, 4);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await spool.close();
});

test('spool: after a full drain (the segment rolls) it keeps taking records, and they are on disk', async () => {
  const dir = tmp();
  let spool = await openSpool<number>({ dir });
  const seen: number[] = [];
  for (let round = 0; round < 3; round++) {
    await spool.append(round * 2);
    await spool.append(round * 2 + 1);
    assert.equal(await spool.drain(async (items) => { seen.push(...items); }), 2, `round ${round}`);
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  await spool.append(6);
  await spool.close();
  assert.equal(segs(dir).length, 1);
  spool = await openSpool<number>({ dir });
  assert.equal(spool.stats().batches, 1, 'the record appended after the rolls survived the reopen');
  await spool.drain(async (items) => { seen.push(...items); });
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
  await spool.close();
});

test('spool: chunks by bytes, several in the handler at once; the cursor moves in order and a failure keeps the rest', async () => {
  const dir = tmp();
  let spool = await openSpool<{ n: number; pad: string }>({ dir, segmentBytes: 3000 });
  for (let i = 0; i < 60; i++) await spool.append({ n: i, pad: 'y'.repeat(80) });
  let running = 0;
  let maxRunning = 0;
  const chunks: number[][] = [];
  const handler = async (items: Array<{ n: number }>): Promise<void> => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    // Later chunks finish first: commits must still go in order.
    await new Promise((r) => setTimeout(r, 30 - (items[0]!.n % 3) * 10));
    running--;
    if (items.some((x) => x.n === 45)) throw new Error('store down at 45');
    chunks.push(items.map((x) => x.n));
  };
  await assert.rejects(spool.drain(handler, { bytes: 1000, concurrency: 3 }), /store down at 45/);
  assert.ok(maxRunning > 1, `chunks overlapped (${maxRunning})`);
  for (const c of chunks) assert.ok(c.length >= 1 && c.length * 100 <= 1000, `chunk of ${c.length} records within 1,000 bytes`);
  const left = spool.stats().batches;
  const firstFailed = Math.min(...Array.from({ length: 60 }, (_, i) => i).filter((i) => !chunks.flat().includes(i)));
  assert.equal(left, 60 - firstFailed, 'everything from the failed chunk on is still spooled');
  await spool.close();
  spool = await openSpool<{ n: number; pad: string }>({ dir, segmentBytes: 3000 });
  const rest: number[] = [];
  await spool.drain(async (items) => { rest.push(...items.map((x) => x.n)); }, { bytes: 1000, concurrency: 3 });
  assert.deepEqual(rest, Array.from({ length: left }, (_, k) => firstFailed + k));
  await spool.close();
});

test('spool: many concurrent appends across segment rolls are acked in order and all survive a reopen', async () => {
  const dir = tmp();
  let spool = await openSpool<{ n: number; pad: string }>({ dir, segmentBytes: 5000 });
  const acked: number[] = [];
  const pending: Promise<void>[] = [];
  for (let n = 0; n < 400; n++) {
    pending.push(spool.append({ n, pad: 'z'.repeat(n % 97) }).then(() => { acked.push(n); }));
    if (n % 50 === 49) await pending.at(-1); // waves: several groups, so the segments roll
  }
  await Promise.all(pending);
  assert.deepEqual(acked, Array.from({ length: 400 }, (_, k) => k), 'acked in append order');
  await spool.close();
  assert.ok(segs(dir).length > 1, 'rolled across segments');
  spool = await openSpool<{ n: number; pad: string }>({ dir, segmentBytes: 5000 });
  const seen: number[] = [];
  await spool.drain(async (items) => { seen.push(...items.map((x) => x.n)); }, { bytes: 4000, concurrency: 2 });
  assert.deepEqual(seen, acked);
  await spool.close();
});

test('spool: drain reads reuse their buffers only after every chunk read into them is done', async () => {
  const dir = tmp();
  // Records are views into the read buffer (no copy): the handler checks them after a delay, so
  // a buffer reused while a chunk still ran would show as changed bytes.
  const raw = { encode: (b: Buffer) => b, decode: (b: Buffer) => b };
  const spool = await openSpool<Buffer>({ dir, codec: raw, segmentBytes: 64 * 1024 });
  const want: string[] = [];
  for (let i = 0; i < 300; i++) {
    // Mostly ~1 KB; every 50th is larger than a chunk (read whole, on its own).
    const len = i % 50 === 25 ? 9000 : 500 + (i % 7) * 100;
    const body = Buffer.alloc(len, 97 + (i % 26));
    body.write(`#${i}#`, 0);
    want.push(body.toString('latin1'));
    await spool.append(body);
  }
  const chunks: string[][] = []; // by call order: chunks finish out of order
  let running = 0;
  let most = 0;
  const n = await spool.drain(async (items) => {
    const slot = chunks.length;
    chunks.push([]);
    running++;
    most = Math.max(most, running);
    const before = items.map((b) => b.toString('latin1'));
    await new Promise((r) => setTimeout(r, 1 + ((slot * 7) % 4)));
    assert.deepEqual(items.map((b) => b.toString('latin1')), before, 'a chunk\'s records did not change while it ran');
    chunks[slot] = before;
    running--;
  }, { bytes: 4096, records: 2, concurrency: 3 }); // a read gives several chunks
  assert.equal(n, 300);
  assert.ok(most > 1, 'chunks ran side by side');
  const seen = chunks.flat();
  assert.equal(seen.length, want.length);
  seen.forEach((got, k) => assert.equal(got, want[k], `record ${k}`));
  await spool.close();
});

test('spool: a torn last record (crash mid-write) is cut on open, earlier records kept', async () => {
  const dir = tmp();
  const spool = await openSpool<{ i: number }>({ dir });
  for (let i = 0; i < 5; i++) await spool.append({ i });
  await spool.close();
  const file = path.join(dir, segs(dir)[0]!);
  const whole = encodeRecord({ i: 5 });
  fs.appendFileSync(file, whole.subarray(0, whole.length - 3)); // header and part of the body
  const sizeTorn = fs.statSync(file).size;
  const again = await openSpool<{ i: number }>({ dir });
  assert.equal(again.stats().batches, 5);
  assert.ok(fs.statSync(file).size < sizeTorn, 'torn tail truncated');
  await again.append({ i: 6 });
  const seen: number[] = [];
  await again.drain(async (items) => { seen.push(...items.map((x) => x.i)); });
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 6]);
  await again.close();
  // A flipped byte inside a record is caught by the checksum.
  const rec = Buffer.concat([encodeRecord('a'), encodeRecord('b')]);
  rec[rec.length - 2] = rec[rec.length - 2]! ^ 0xff;
  assert.deepEqual(decodeRecords(rec).records.map((r) => r.value), ['a']);
});

test('spool: bounded by bytes, with a clear RESOURCE_EXHAUSTED when full', async () => {
  const dir = tmp();
  const spool = await openSpool<string>({ dir, maxBytes: 1000 });
  const item = 'y'.repeat(200);
  let accepted = 0;
  let err: unknown;
  for (let i = 0; i < 10; i++) {
    try { await spool.append(item); accepted++; } catch (e) { err = e; break; }
  }
  assert.equal(accepted, 4);
  assert.ok(err instanceof AppError);
  assert.equal(err.code, 'RESOURCE_EXHAUSTED');
  assert.match(err.message, /spool full/);
  await spool.drain(async () => undefined);
  await spool.append(item); // room again after draining
  assert.equal(spool.stats().batches, 1);
  await spool.close();
});

test('file ledger: marks survive a restart, only ever go up', async () => {
  const { createFileLedger } = await import('../../src/infrastructure/resilience/ledger-file.js');
  const dir = tmp();
  const a = createFileLedger({ dataDir: dir });
  a.record('agent-1', 10);
  a.record('agent-1', 7);
  a.record('agent-2', 3);
  a.close();
  const b = createFileLedger({ dataDir: dir });
  assert.equal(b.lastAcked('agent-1'), 10);
  assert.equal(b.lastAcked('agent-2'), 3);
  assert.equal(b.lastAcked('agent-3'), undefined);
  b.close();
});
