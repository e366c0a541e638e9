// What the InfluxDB adapter writes, encoded once: the lines of a batch (and the rollup rows it
// completed), as the resilient store spools them, and the spool record format.
import type { AlertEvent } from '../../application/store-ports.js';
import type { MetricBatch } from '../../domain/types.js';

/** A series-minute whose rollup is recomputed from raw points: which measurement, its two identifying tags. */
export interface BackfillKey { m: 'container' | 'host'; host: string; id: string; t: number }

/**
 * Line protocol ready to send: `count` lines (raw points, and 1-minute rollup rows the stream
 * completed); `minTs` the oldest metric timestamp (0 for none). `rolled`: the batch went through
 * this version's rollups (records from older versions did not, and get their range recomputed);
 * `epoch` tells records of this process from those of an earlier run; `backfill`: minutes the
 * stream could not roll up itself, recomputed from raw points once these lines are written.
 */
export interface EncodedWrite { body: Buffer; count: number; minTs: number; rolled: boolean; epoch: number; backfill?: BackfillKey[] }

// An EncodedWrite as a spool record:
//   v2: [u8 2][u32 count][f64 minTs][u32 epoch][u32 n][n bytes: JSON BackfillKey[], or none][line protocol]
//   v1: [u8 1][u32 count][f64 minTs][line protocol]  (before rollups were computed in the stream)
// Records of still earlier versions were JSON ({"kind":"batch"|"alert",...}, first byte "{"):
// they are encoded on read, so a spool left by an older server is still written, not cut as torn.
const RECORD_V1 = 1;
const RECORD_V2 = 2;
export function encodedCodec(encodeLines: (b: MetricBatch) => EncodedWrite, encodeAlert: (e: AlertEvent) => EncodedWrite) {
  return {
    encode(e: EncodedWrite): Buffer[] {
      const meta = e.backfill && e.backfill.length > 0 ? Buffer.from(JSON.stringify(e.backfill)) : undefined;
      const head = Buffer.allocUnsafe(21);
      head.writeUInt8(RECORD_V2, 0);
      head.writeUInt32LE(e.count, 1);
      head.writeDoubleLE(e.minTs, 5);
      head.writeUInt32LE(e.epoch, 13);
      head.writeUInt32LE(meta?.length ?? 0, 17);
      return meta ? [head, meta, e.body] : [head, e.body];
    },
    decode(buf: Buffer): EncodedWrite {
      if (buf[0] === RECORD_V2 && buf.length >= 21) {
        const n = buf.readUInt32LE(17);
        const backfill = n > 0 ? JSON.parse(buf.toString('utf8', 21, 21 + n)) as BackfillKey[] : undefined;
        return {
          count: buf.readUInt32LE(1), minTs: buf.readDoubleLE(5), rolled: true, epoch: buf.readUInt32LE(13),
          body: buf.subarray(21 + n), ...(backfill ? { backfill } : {}),
        };
      }
      if (buf[0] === RECORD_V1 && buf.length >= 13) {
        return { count: buf.readUInt32LE(1), minTs: buf.readDoubleLE(5), body: buf.subarray(13), rolled: false, epoch: 0 };
      }
      const legacy = JSON.parse(buf.toString('utf8')) as { kind: 'batch'; batch: MetricBatch } | { kind: 'alert'; evt: AlertEvent };
      if (legacy.kind === 'batch') return encodeLines(legacy.batch);
      if (legacy.kind === 'alert') return encodeAlert(legacy.evt);
      throw new Error('spool record: unknown kind');
    },
  };
}
