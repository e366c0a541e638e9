// A durable, bounded, append-only spool of records on disk (JSON unless a codec is given).
// - Segment files `seg-<n>.log` under the spool dir; each record is
//   [u32 length][u32 crc32][record bytes]. append() resolves only after fdatasync, and
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

export interface SpoolOptions<T = unknown> {
  dir: string;
  /** SPOOL_MAX_BYTES, default 512 MiB. */
  maxBytes?: number;
  /** Roll to a new segment past this size, default 8 MiB. */
  segmentBytes?: number;
  /** Record <-> bytes; JSON by default. */
  codec?: SpoolCodec<T>;
  log?: Logger;
}

/** encode may return the record in parts: they are written as they are, never joined in memory. */
export interface SpoolCodec<T> { encode(item: T): Buffer | Buffer[]; decode(buf: Buffer): T }

/**
 * How much one drain chunk holds at most: records, and record bytes (at least one record);
 * and how many chunks may be in the handler at once (default 1). The cursor still moves in order.
 */
export interface ChunkLimit { records?: number; bytes?: number; concurrency?: number }

export interface SpoolStats { batches: number; bytes: number; segments: number }

export interface Spool<T> {
  append(item: T): Promise<void>;
  stats(): SpoolStats;
  drain(handler: (items: T[]) => Promise<void>, chunk?: number | ChunkLimit): Promise<number>;
  close(): Promise<void>;
}

const HEADER = 8;
interface Segment { seq: number; file: string; size: number; count: number }
interface Cursor { seq: number; offset: number; consumed: number }

const segName = (seq: number): string => `seg-${String(seq).padStart(12, '0')}.log`;

const JSON_CODEC: SpoolCodec<unknown> = {
  encode: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
  decode: (buf) => JSON.parse(buf.toString('utf8')) as unknown,
};

/** A record as [header, ...body parts] and its length in bytes. */
function recordParts<T>(value: T, codec: SpoolCodec<T>): { parts: Buffer[]; length: number } {
  const encoded = codec.encode(value);
  const body = Array.isArray(encoded) ? encoded : [encoded];
  let len = 0;
  let crc = 0;
  for (const b of body) { len += b.length; crc = zlib.crc32(b, crc); }
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32LE(len, 0);
  head.writeUInt32LE(crc, 4);
  return { parts: [head, ...body], length: HEADER + len };
}

export function encodeRecord<T>(value: T, codec: SpoolCodec<T> = JSON_CODEC as SpoolCodec<T>): Buffer {
  return Buffer.concat(recordParts(value, codec).parts);
}

/**
 * Parses whole records from buf; `end` is where the valid prefix stops (a torn tail starts there).
 * `verify` checks each record's crc32: on open, where a crash may have torn the tail. The drain
 * reads records this process appended or verified on open, and skips it (it was 2 % of the
 * server's CPU at high ingest rates); lengths are still checked.
 */
export function decodeRecords<T = unknown>(buf: Buffer, start = 0, codec: SpoolCodec<T> = JSON_CODEC as SpoolCodec<T>, verify = true): { records: Array<{ value: T; end: number }>; end: number } {
  const records: Array<{ value: T; end: number }> = [];
  let off = start;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (off + HEADER + len > buf.length) break;
    const body = buf.subarray(off + HEADER, off + HEADER + len);
    if (verify && zlib.crc32(body) !== crc) break;
    let value: T;
    try { value = codec.decode(body); } catch { break; }
    off += HEADER + len;
    records.push({ value, end: off });
  }
  return { records, end: off };
}

/** A promise and its resolve (Promise.withResolvers arrived after Node 20). */
export function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export async function openSpool<T>(opts: SpoolOptions<T>): Promise<Spool<T>> {
  const codec = opts.codec ?? (JSON_CODEC as SpoolCodec<T>);
  const maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
  const segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
  const dir = opts.dir;
  await fsp.mkdir(dir, { recursive: true });

  const segments: Segment[] = [];
  for (const name of (await fsp.readdir(dir)).filter((n) => /^seg-\d+\.log$/.test(n)).sort()) {
    const file = path.join(dir, name);
    const buf = await fsp.readFile(file);
    const { records, end } = decodeRecords(buf, 0, codec);
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
  // Never reuse a number: a roll removes the only segment, and the new one must not take its name.
  let lastSeq = Math.max(0, cursor.seq, ...segments.map((x) => x.seq));
  async function newSegment(): Promise<void> {
    const seq = ++lastSeq;
    const seg: Segment = { seq, file: path.join(dir, segName(seq)), size: 0, count: 0 };
    fh = await fsp.open(seg.file, 'a');
    await fsyncDir(dir); // the new file's directory entry must survive a crash too
    segments.push(seg);
    active = seg;
    if (segments.length === 1) cursor = { seq, offset: 0, consumed: 0 };
  }
  if (segments.length > 0) { active = segments.at(-1)!; fh = await fsp.open(active.file, 'a'); } else { await newSegment(); }

  // ---------- group-committed appends ----------
  let waiting: Array<{ parts: Buffer[]; length: number; resolve: () => void; reject: (e: unknown) => void }> = [];
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
        if (total + w.length > maxBytes) {
          w.reject(new AppError('RESOURCE_EXHAUSTED', `spool full (${total} of ${maxBytes} bytes, SPOOL_MAX_BYTES): batch not accepted`));
        } else { accepted.push(w); total += w.length; }
      }
      if (accepted.length === 0) continue;
      try {
        if (active.size >= segmentBytes) { await fh.close(); await newSegment(); }
        // One gathered write of every record's parts (no joined copy), one sync.
        const parts = accepted.flatMap((w) => w.parts);
        const length = accepted.reduce((a, w) => a + w.length, 0);
        const { bytesWritten } = await fh.writev(parts);
        if (bytesWritten !== length) throw new Error(`short write (${bytesWritten} of ${length} bytes)`);
        await fh.datasync();
        active.size += length;
        active.count += accepted.length;
        for (const w of accepted) w.resolve();
        appended.resolve();
        appended = signal();
      } catch (err) {
        // Cut what this group may have left, so later records do not sit behind a torn one
        // (a reopen stops reading at the first bad record).
        await fh.truncate(active.size).catch(() => undefined);
        const e = new AppError('UNAVAILABLE', `spool write failed: ${(err as Error).message}`, { cause: err });
        for (const w of accepted) w.reject(e);
      }
    }
  }

  function append(item: T): Promise<void> {
    if (closed) return Promise.reject(new AppError('UNAVAILABLE', 'spool closed'));
    return new Promise<void>((resolve, reject) => {
      waiting.push({ ...recordParts(item, codec), resolve, reject });
      startLoop();
    });
  }

  async function saveCursor(): Promise<void> {
    await fsp.writeFile(path.join(dir, 'cursor.json'), JSON.stringify(cursor));
  }

  let draining: Promise<number> | undefined;
  // Resolved (and replaced) after every successful group write: a drain waiting for more data
  // wakes up on it.
  let appended = signal();

  /** Deletes leading segments that are fully committed and no longer written to. */
  async function dropCommittedSegments(): Promise<void> {
    for (;;) {
      const first = segments[0];
      if (!first || first === active || first.seq > cursor.seq || (first.seq === cursor.seq && cursor.offset < first.size)) return;
      segments.shift();
      await fsp.rm(first.file, { force: true });
      if (cursor.seq <= first.seq) cursor = { seq: segments[0]!.seq, offset: 0, consumed: 0 };
    }
  }

  // ---------- drain reads into reused buffers ----------
  // A chunk's records are views into the buffer it was read into. Once every chunk of a read has
  // been handed to the handler and each has resolved (nothing reads its records any more), the
  // buffer is reused for a later read: at high rates, a fresh multi-MiB buffer per read lived
  // until the next full GC and was a large part of the server's memory.
  interface ReadBuffer { buf: Buffer; backing: Buffer; chunks: number; handedOut: boolean; pooled: boolean }
  const readPool: Buffer[] = [];
  const READ_POOL_MAX = 4;

  async function readAt(seg: Segment, offset: number, unsent: number, cap: number): Promise<ReadBuffer> {
    const fd = await fsp.open(seg.file, 'r');
    try {
      let want = Math.min(unsent, cap);
      if (want < unsent) {
        // A record longer than the cap is read whole, on its own.
        const head = Buffer.allocUnsafe(HEADER);
        await fd.read(head, 0, HEADER, offset);
        want = Math.max(want, Math.min(unsent, HEADER + head.readUInt32LE(0)));
      }
      const pooled = Number.isFinite(cap) && want <= cap;
      const backing = (pooled ? readPool.pop() : undefined) ?? Buffer.allocUnsafe(pooled ? cap : want);
      const buf = backing.subarray(0, want);
      const { bytesRead } = await fd.read(buf, 0, want, offset);
      return { buf: buf.subarray(0, bytesRead), backing, chunks: 0, handedOut: false, pooled };
    } finally { await fd.close(); }
  }

  function release(r: ReadBuffer): void {
    r.chunks--;
    if (r.handedOut && r.chunks === 0 && r.pooled && readPool.length < READ_POOL_MAX) readPool.push(r.backing);
  }

  async function drainOnce(handler: (items: T[]) => Promise<void>, limit: ChunkLimit): Promise<number> {
    const maxRecords = limit.records ?? Infinity;
    const maxBytes = limit.bytes ?? Infinity;
    const concurrency = Math.max(1, limit.concurrency ?? 1);
    // While a chunk is in flight, a further one leaves only once this much has gathered, so a
    // busy drain sends few large chunks instead of many small ones.
    const minBytesWhileBusy = Number.isFinite(maxBytes) ? maxBytes / 2 : 0;
    let done = 0;
    // Chunks handed to the handler, oldest first; the cursor moves past one only once it and
    // every earlier one resolved.
    const inflight: Array<{ result: Promise<void>; upto: Cursor; n: number; read: ReadBuffer }> = [];
    let sent: Cursor = { ...cursor }; // where the next chunk starts
    const commitOldest = async (): Promise<void> => {
      const c = inflight[0]!;
      await c.result;
      inflight.shift();
      release(c.read);
      cursor = c.upto;
      done += c.n;
      await dropCommittedSegments();
      await saveCursor();
    };
    try {
      for (;;) {
        const seg = segments.find((x) => x.seq === sent.seq);
        if (!seg) {
          if (!segments[0]) break;
          sent = { seq: segments[0].seq, offset: 0, consumed: 0 };
          continue;
        }
        const unsent = seg.size - sent.offset;
        if (unsent <= 0 && seg !== active) {
          // All of this segment is sent: go on with the next one.
          const next = segments[segments.indexOf(seg) + 1]!;
          sent = { seq: next.seq, offset: 0, consumed: 0 };
          continue;
        }
        if (unsent > 0 && (inflight.length === 0 || (inflight.length < concurrency && (unsent >= minBytesWhileBusy || seg !== active)))) {
          // A read holds at most a chunk (or one record larger than that).
          const read = await readAt(seg, sent.offset, unsent, maxBytes);
          const { records } = decodeRecords(read.buf, 0, codec, false);
          if (records.length === 0) {
            throw new AppError('INTERNAL', `spool: unreadable record in ${seg.file} at byte ${sent.offset}`);
          }
          const base = sent;
          for (let i = 0; i < records.length;) {
            while (inflight.length >= concurrency) await commitOldest();
            // A chunk: at least one record, then as many as fit both limits.
            const from = i === 0 ? 0 : records[i - 1]!.end;
            let j = i + 1;
            while (j < records.length && j - i < maxRecords && records[j]!.end - from <= maxBytes) j++;
            const result = handler(records.slice(i, j).map((r) => r.value));
            result.catch(() => undefined); // awaited, in order, by commitOldest
            sent = { seq: seg.seq, offset: base.offset + records[j - 1]!.end, consumed: base.consumed + j };
            read.chunks++;
            inflight.push({ result, upto: sent, n: j - i, read });
            i = j;
          }
          read.handedOut = true;
          continue;
        }
        if (inflight.length > 0) {
          // Wait for the oldest chunk, or (nothing left to send) for more data to send beside it.
          const oldest = inflight[0]!.result.then(() => 'done' as const, () => 'done' as const);
          if (inflight.length >= concurrency || unsent > 0 || await Promise.race([oldest, appended.promise]) === 'done') {
            await commitOldest();
          }
          continue;
        }
        // Everything is written. Start a fresh active segment once no append is in flight.
        await dropCommittedSegments();
        if (loopRunning || waiting.length > 0 || seg.size === 0) break;
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
        break;
      }
      return done;
    } catch (err) {
      // The failed chunk and everything after it stay in the spool.
      await Promise.allSettled(inflight.map((c) => c.result));
      throw err;
    }
  }

  return {
    append,
    stats: () => ({ batches: batches(), bytes: bytes(), segments: segments.length }),
    drain(handler, chunk = 20) {
      // One drain at a time; a second caller joins the running one.
      draining ??= drainOnce(handler, typeof chunk === 'number' ? { records: chunk } : chunk).finally(() => { draining = undefined; });
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
