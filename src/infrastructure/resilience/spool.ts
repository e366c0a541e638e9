// A durable, bounded, append-only spool of JSON records on disk.
// - Segment files `seg-<n>.log` under the spool dir; each record is
//   [u32 length][u32 crc32][JSON bytes]. append() resolves only after fdatasync, and
//   concurrent appends share one write + one sync (group commit).
// - A crash can tear the last record; on open every segment is scanned and cut at the first
//   record whose length or checksum does not hold, so the spool always reopens.
// - Bounded by bytes: when full, append() rejects with RESOURCE_EXHAUSTED (the caller must
//   then not ack; the agent keeps the batch).
// - drain() hands records to a handler in order, chunk by chunk; a chunk leaves the spool only
//   after the handler resolved. Progress is kept in cursor.json (not synced: a crash replays
//   a little again, which idempotent writes absorb). Fully drained segments are deleted.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { AppError } from '../../application/errors.js';
import type { Logger } from '../../application/ports.js';

export interface SpoolOptions {
  dir: string;
  /** SPOOL_MAX_BYTES, default 512 MiB. */
  maxBytes?: number;
  /** Roll to a new segment past this size, default 8 MiB. */
  segmentBytes?: number;
  log?: Logger;
}

export interface SpoolStats { batches: number; bytes: number; segments: number }

export interface Spool<T> {
  append(item: T): Promise<void>;
  stats(): SpoolStats;
  drain(handler: (items: T[]) => Promise<void>, chunkSize?: number): Promise<number>;
  close(): Promise<void>;
}

const HEADER = 8;
interface Segment { seq: number; file: string; size: number; count: number }
interface Cursor { seq: number; offset: number; consumed: number }

const segName = (seq: number): string => `seg-${String(seq).padStart(12, '0')}.log`;

export function encodeRecord(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(zlib.crc32(body), 4);
  return Buffer.concat([head, body]);
}

/** Parses whole records from buf; `end` is where the valid prefix stops (a torn tail starts there). */
export function decodeRecords(buf: Buffer, start = 0): { records: Array<{ value: unknown; end: number }>; end: number } {
  const records: Array<{ value: unknown; end: number }> = [];
  let off = start;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (off + HEADER + len > buf.length) break;
    const body = buf.subarray(off + HEADER, off + HEADER + len);
    if (zlib.crc32(body) !== crc) break;
    let value: unknown;
    try { value = JSON.parse(body.toString('utf8')); } catch { break; }
    off += HEADER + len;
    records.push({ value, end: off });
  }
  return { records, end: off };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export async function openSpool<T>(opts: SpoolOptions): Promise<Spool<T>> {
  const maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
  const segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
  const dir = opts.dir;
  await fsp.mkdir(dir, { recursive: true });

  const segments: Segment[] = [];
  for (const name of (await fsp.readdir(dir)).filter((n) => /^seg-\d+\.log$/.test(n)).sort()) {
    const file = path.join(dir, name);
    const buf = await fsp.readFile(file);
    const { records, end } = decodeRecords(buf);
    if (end < buf.length) {
      opts.log?.warn({ file, kept: end, dropped: buf.length - end }, 'spool: cutting a torn record at the end of a segment');
      await fsp.truncate(file, end);
    }
    segments.push({ seq: Number(name.slice(4, -4)), file, size: end, count: records.length });
  }

  let cursor: Cursor = { seq: segments[0]?.seq ?? 1, offset: 0, consumed: 0 };
  try {
    const c = JSON.parse(await fsp.readFile(path.join(dir, 'cursor.json'), 'utf8')) as Cursor;
    const seg = segments.find((s) => s.seq === c.seq);
    if (seg && c.offset <= seg.size) {
      cursor = c;
      // Segments before the cursor were drained but not yet deleted.
      while (segments[0] && segments[0].seq < c.seq) await fsp.rm(segments.shift()!.file, { force: true });
    }
  } catch { /* no cursor: start at the oldest segment */ }

  const bytes = (): number => segments.reduce((a, s) => a + s.size, 0) - cursor.offset;
  const batches = (): number => segments.reduce((a, s) => a + s.count, 0) - cursor.consumed;

  let active: Segment;
  let fh: fsp.FileHandle;
  async function newSegment(): Promise<void> {
    const seq = (segments.at(-1)?.seq ?? 0) + 1;
    const seg: Segment = { seq, file: path.join(dir, segName(seq)), size: 0, count: 0 };
    fh = await fsp.open(seg.file, 'a');
    await fsyncDir(dir); // the new file's directory entry must survive a crash too
    segments.push(seg);
    active = seg;
    if (segments.length === 1) cursor = { seq, offset: 0, consumed: 0 };
  }
  if (segments.length > 0) { active = segments.at(-1)!; fh = await fsp.open(active.file, 'a'); } else { await newSegment(); }

  // ---------- group-committed appends ----------
  let waiting: Array<{ buf: Buffer; resolve: () => void; reject: (e: unknown) => void }> = [];
  let writing: Promise<void> | undefined;
  // Set synchronously, cleared in the loop's own finally: no gap where an append could find
  // `writing` set while the loop has already decided to stop.
  let loopRunning = false;
  let closed = false;

  async function writeLoop(): Promise<void> {
    try {
      await writeGroups();
    } catch {
      loopRunning = false; // writeGroups catches its own errors; belt and braces
    }
  }
  function startLoop(): void {
    if (loopRunning) return;
    loopRunning = true;
    writing = writeLoop();
  }

  async function writeGroups(): Promise<void> {
    for (;;) {
      // Clear the flag in the same synchronous step that sees the queue empty.
      if (waiting.length === 0) { loopRunning = false; return; }
      const group = waiting;
      waiting = [];
      const accepted: typeof group = [];
      let total = bytes();
      for (const w of group) {
        if (total + w.buf.length > maxBytes) {
          w.reject(new AppError('RESOURCE_EXHAUSTED', `spool full (${total} of ${maxBytes} bytes, SPOOL_MAX_BYTES): batch not accepted`));
        } else { accepted.push(w); total += w.buf.length; }
      }
      if (accepted.length === 0) continue;
      try {
        if (active.size >= segmentBytes) { await fh.close(); await newSegment(); }
        const data = Buffer.concat(accepted.map((w) => w.buf));
        await fh.write(data);
        await fh.datasync();
        active.size += data.length;
        active.count += accepted.length;
        for (const w of accepted) w.resolve();
      } catch (err) {
        const e = new AppError('UNAVAILABLE', `spool write failed: ${(err as Error).message}`, { cause: err });
        for (const w of accepted) w.reject(e);
      }
    }
  }

  function append(item: T): Promise<void> {
    if (closed) return Promise.reject(new AppError('UNAVAILABLE', 'spool closed'));
    return new Promise<void>((resolve, reject) => {
      waiting.push({ buf: encodeRecord(item), resolve, reject });
      startLoop();
    });
  }

  async function saveCursor(): Promise<void> {
    await fsp.writeFile(path.join(dir, 'cursor.json'), JSON.stringify(cursor));
  }

  let draining: Promise<number> | undefined;
  async function drainOnce(handler: (items: T[]) => Promise<void>, chunkSize: number): Promise<number> {
    let done = 0;
    for (;;) {
      const seg = segments.find((s) => s.seq === cursor.seq) ?? segments[0];
      if (!seg) return done;
      if (seg.seq !== cursor.seq) cursor = { seq: seg.seq, offset: 0, consumed: 0 };
      if (cursor.offset < seg.size) {
        const fd = await fsp.open(seg.file, 'r');
        let buf: Buffer;
        try {
          buf = Buffer.alloc(seg.size - cursor.offset);
          await fd.read(buf, 0, buf.length, cursor.offset);
        } finally { await fd.close(); }
        const { records } = decodeRecords(buf);
        const startOffset = cursor.offset;
        const startConsumed = cursor.consumed;
        for (let i = 0; i < records.length; i += chunkSize) {
          const chunk = records.slice(i, i + chunkSize);
          await handler(chunk.map((r) => r.value as T));
          cursor = { seq: seg.seq, offset: startOffset + chunk.at(-1)!.end, consumed: startConsumed + i + chunk.length };
          done += chunk.length;
          await saveCursor();
        }
        continue; // the active segment may have grown meanwhile
      }
      // Segment fully replayed.
      if (seg !== active) {
        segments.splice(segments.indexOf(seg), 1);
        await fsp.rm(seg.file, { force: true });
        const next = segments[0]!;
        cursor = { seq: next.seq, offset: 0, consumed: 0 };
        await saveCursor();
        continue;
      }
      // The active segment is drained: start a fresh one once no append is in flight.
      if (loopRunning || waiting.length > 0 || seg.size === 0) return done;
      loopRunning = true;
      // Appends arriving during the roll wait for it (they see `writing` set) and then run.
      const roll = (async () => {
        await fh.close();
        segments.splice(segments.indexOf(seg), 1);
        await newSegment();
        cursor = { seq: active.seq, offset: 0, consumed: 0 };
        await saveCursor();
        await fsp.rm(seg.file, { force: true });
      })();
      writing = roll.catch(() => undefined).then(writeLoop);
      await roll;
      return done;
    }
  }

  return {
    append,
    stats: () => ({ batches: batches(), bytes: bytes(), segments: segments.length }),
    drain(handler, chunkSize = 20) {
      // One drain at a time; a second caller joins the running one.
      draining ??= drainOnce(handler, chunkSize).finally(() => { draining = undefined; });
      return draining;
    },
    async close() {
      closed = true;
      await writing;
      await draining?.catch(() => 0);
      await fh.close().catch(() => undefined);
    },
  };
}

/** Sync peek used by tests and health: does the directory hold spooled data? */
export const spoolDirHasData = (dir: string): boolean =>
  fs.existsSync(dir) && fs.readdirSync(dir).some((n) => /^seg-\d+\.log$/.test(n) && fs.statSync(path.join(dir, n)).size > 0);
