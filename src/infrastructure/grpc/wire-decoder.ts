// MetricData decoder for the server's hot path. It gives exactly the object @grpc/proto-loader
// gives with LOADER_OPTIONS (camelCase names, 64-bit integers as numbers, defaults filled in,
// an absent message as null), so validation (mapping.ts) does not care which one decoded.
//
// Why not protobufjs: at ingest rates, protobufjs's decode plus toObject (a message instance,
// then a plain copy, 64-bit values through Long objects) made three objects per container
// sample, and showed as a large part of the server's CPU profile and of its garbage. This reads
// the bytes once into the final objects. The tests compare it with proto-loader on generated
// messages, including unknown fields, packed and unpacked repeats and negative numbers.
//
// The schema is proto/metrics.proto; a field added there and not here is skipped as unknown
// (what any older protobuf reader does), and the equivalence test fails until it is added.

/** Thrown for bytes that are not a valid MetricData; the server answers INVALID_ARGUMENT. */
export class WireDecodeError extends Error {}

const TWO_32 = 4_294_967_296;

// Nearly every string in a batch repeats the previous interval's: container ids, names, images,
// label keys and values, states, the agent id. Decoding each afresh made most of the decoder's
// garbage, and every map keyed by these strings downstream (series prefixes, rollups, latest
// samples) hashed and compared a new copy. Short ASCII strings are looked up by a hash of their
// length and first and last bytes instead, and checked byte for byte, so a hit is the exact
// string; anything else is decoded as before.
const INTERN_MAX_BYTES = 128;
const INTERN_MAX_ENTRIES = 65_536;
const HASHED_ENDS = 8;
let interned = new Map<number, string>();

type SliceableBuffer = Buffer & { utf8Slice(start: number, end: number): string; latin1Slice(start: number, end: number): string };

/** The string of buf[start, end), from the intern table when its bytes were seen before. */
function internedString(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  // utf8Slice: what toString('utf8', …) calls after its argument checks.
  if (len > INTERN_MAX_BYTES) return (buf as SliceableBuffer).utf8Slice(start, end);
  let h = 0x811c9dc5 ^ len; // FNV-1a over the ends: enough to tell ids, names and images apart
  const head = Math.min(end, start + HASHED_ENDS);
  for (let i = start; i < head; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  for (let i = Math.max(head, end - HASHED_ENDS); i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const hit = interned.get(h);
  if (hit !== undefined && hit.length === len) {
    let i = 0;
    while (i < len && hit.charCodeAt(i) === buf[start + i]) i++;
    if (i === len) return hit; // the table holds ASCII only, so equal code units are equal bytes
  }
  let ascii = 0;
  for (let i = start; i < end; i++) ascii |= buf[i]!;
  if (ascii >= 0x80) return (buf as SliceableBuffer).utf8Slice(start, end);
  const s = (buf as SliceableBuffer).latin1Slice(start, end);
  if (interned.size >= INTERN_MAX_ENTRIES) interned = new Map();
  interned.set(h, s);
  return s;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly end = buf.length) {}

  fail(what: string): never {
    throw new WireDecodeError(`${what} at byte ${this.pos}`);
  }

  /** Low and high 32 bits of the last varint read. */
  lo = 0;
  hi = 0;

  /** A varint as an unsigned number (exact up to 2^53; larger values lose precision, as with proto-loader's longs: Number). */
  varint(): number {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    let byte: number;
    let shift = 0;
    // Bits 0..27.
    do {
      if (this.pos >= this.end) this.fail('truncated varint');
      byte = b[this.pos++]!;
      lo |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        return this.lo;
      }
    } while (shift < 28);
    // Bits 28..31 go to lo, the rest of that byte and up to five more to hi.
    if (this.pos >= this.end) this.fail('truncated varint');
    byte = b[this.pos++]!;
    lo |= (byte & 0x0f) << 28;
    hi = (byte & 0x7f) >> 4;
    shift = 3;
    for (let i = 0; byte >= 0x80; i++) {
      if (i >= 5) this.fail('varint longer than 10 bytes');
      if (this.pos >= this.end) this.fail('truncated varint');
      byte = b[this.pos++]!;
      hi |= (byte & 0x7f) << shift;
      shift += 7;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this.hi * TWO_32 + this.lo;
  }

  /** Signed 64-bit, converted as Long.toNumber does: signed high word * 2^32 + unsigned low word. */
  int64(): number {
    this.varint();
    return (this.hi | 0) * TWO_32 + this.lo;
  }

  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  uint32(): number {
    this.varint();
    return this.lo;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.fail('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Start and end of a length-delimited field. */
  span(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) this.fail('length beyond the end of the message');
    return end;
  }

  string(): string {
    const end = this.span();
    const s = this.pos === end ? '' : internedString(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** Wire type of the field whose key field() read last. */
  wt = 0;

  /** Reads the next field's key: returns the field number and leaves its wire type in `wt`. */
  field(): number {
    const key = this.varint();
    if (key < 8) this.fail('field number 0');
    this.wt = key & 7;
    return Math.floor(key / 8);
  }

  /** Skips the current field's value (an unknown field). */
  skip(): void {
    switch (this.wt) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.pos = this.span(); return;
      case 5: this.pos += 4; break;
      default: this.fail(`unsupported wire type ${this.wt}`);
    }
    if (this.pos > this.end) this.fail('truncated field');
  }

  done(end: number): void {
    if (this.pos !== end) this.fail('message overruns its length');
  }

  expect(want: number, name: string): void {
    if (this.wt !== want) this.fail(`field ${name} has wire type ${this.wt}, expected ${want}`);
  }
}

function mapEntry(r: Reader, into: Record<string, string>): void {
  const end = r.span();
  let key = '';
  let v = '';
  while (r.pos < end) {
    const no = r.field();
    if (no === 1 && r.wt === 2) key = r.string();
    else if (no === 2 && r.wt === 2) v = r.string();
    else r.skip();
  }
  r.done(end);
  into[key] = v;
}

// Numbers start unset, not 0, and get their 0 default at the end: a field first given 0 (a small
// integer) and then a timestamp or a fraction became a "double field" in V8, a heap box of its
// own allocated with every sample, and copied into a new box on every read by name (the encoder
// and the rollups read fields by name). Fields first given `undefined` hold any number as is.
const UNSET = undefined as unknown as number;

function containerSample(r: Reader): Record<string, unknown> {
  const end = r.span();
  const c = {
    id: '', name: '', image: '', labels: {} as Record<string, string>, state: '', health: '',
    restartCount: UNSET, exitCode: UNSET, oomKilled: false, startedAtMs: UNSET, timestampMs: UNSET,
    cpuPercent: UNSET, cpuUsageNs: UNSET, onlineCpus: UNSET, memUsageBytes: UNSET, memLimitBytes: UNSET, memPercent: UNSET,
    memRawUsageBytes: UNSET, netRxBytes: UNSET, netTxBytes: UNSET, blkReadBytes: UNSET, blkWriteBytes: UNSET, pids: UNSET, source: '',
  };
  while (r.pos < end) {
    switch (r.field()) {
      case 1: r.expect(2, 'id'); c.id = r.string(); break;
      case 2: r.expect(2, 'name'); c.name = r.string(); break;
      case 3: r.expect(2, 'image'); c.image = r.string(); break;
      case 4: r.expect(2, 'labels'); mapEntry(r, c.labels); break;
      case 5: r.expect(2, 'state'); c.state = r.string(); break;
      case 6: r.expect(2, 'health'); c.health = r.string(); break;
      case 7: r.expect(0, 'restart_count'); c.restartCount = r.uint32(); break;
      case 8: r.expect(0, 'exit_code'); c.exitCode = r.int32(); break;
      case 9: r.expect(0, 'oom_killed'); c.oomKilled = r.bool(); break;
      case 10: r.expect(0, 'started_at_ms'); c.startedAtMs = r.int64(); break;
      case 11: r.expect(0, 'timestamp_ms'); c.timestampMs = r.int64(); break;
      case 12: r.expect(1, 'cpu_percent'); c.cpuPercent = r.double(); break;
      case 13: r.expect(0, 'cpu_usage_ns'); c.cpuUsageNs = r.varint(); break;
      case 14: r.expect(0, 'online_cpus'); c.onlineCpus = r.uint32(); break;
      case 15: r.expect(0, 'mem_usage_bytes'); c.memUsageBytes = r.varint(); break;
      case 16: r.expect(0, 'mem_limit_bytes'); c.memLimitBytes = r.varint(); break;
      case 17: r.expect(1, 'mem_percent'); c.memPercent = r.double(); break;
      case 18: r.expect(0, 'mem_raw_usage_bytes'); c.memRawUsageBytes = r.varint(); break;
      case 19: r.expect(0, 'net_rx_bytes'); c.netRxBytes = r.varint(); break;
      case 20: r.expect(0, 'net_tx_bytes'); c.netTxBytes = r.varint(); break;
      case 21: r.expect(0, 'blk_read_bytes'); c.blkReadBytes = r.varint(); break;
      case 22: r.expect(0, 'blk_write_bytes'); c.blkWriteBytes = r.varint(); break;
      case 23: r.expect(0, 'pids'); c.pids = r.varint(); break;
      case 24: r.expect(2, 'source'); c.source = r.string(); break;
      default: r.skip();
    }
  }
  r.done(end);
  // proto3 leaves zeros out of the bytes.
  c.restartCount ??= 0; c.exitCode ??= 0; c.startedAtMs ??= 0; c.timestampMs ??= 0;
  c.cpuPercent ??= 0; c.cpuUsageNs ??= 0; c.onlineCpus ??= 0; c.memUsageBytes ??= 0; c.memLimitBytes ??= 0; c.memPercent ??= 0;
  c.memRawUsageBytes ??= 0; c.netRxBytes ??= 0; c.netTxBytes ??= 0; c.blkReadBytes ??= 0; c.blkWriteBytes ??= 0; c.pids ??= 0;
  return c;
}

function diskUsage(r: Reader): Record<string, unknown> {
  const end = r.span();
  const d = { mount: '', device: '', fsType: '', totalBytes: 0, usedBytes: 0, usedPercent: 0 };
  while (r.pos < end) {
    switch (r.field()) {
      case 1: r.expect(2, 'mount'); d.mount = r.string(); break;
      case 2: r.expect(2, 'device'); d.device = r.string(); break;
      case 3: r.expect(2, 'fs_type'); d.fsType = r.string(); break;
      case 4: r.expect(0, 'total_bytes'); d.totalBytes = r.varint(); break;
      case 5: r.expect(0, 'used_bytes'); d.usedBytes = r.varint(); break;
      case 6: r.expect(1, 'used_percent'); d.usedPercent = r.double(); break;
      default: r.skip();
    }
  }
  r.done(end);
  return d;
}

function hostSample(r: Reader): Record<string, unknown> {
  const end = r.span();
  const h = {
    timestampMs: 0, numCpus: 0, cpuPercent: 0, cpuPerCorePercent: [] as number[], load1: 0, load5: 0, load15: 0,
    memTotalBytes: 0, memAvailableBytes: 0, memUsedBytes: 0, memPercent: 0, swapTotalBytes: 0, swapUsedBytes: 0,
    disks: [] as Record<string, unknown>[], netRxBytes: 0, netTxBytes: 0, uptimeSeconds: 0, runtimeAvailable: false,
  };
  while (r.pos < end) {
    switch (r.field()) {
      case 1: r.expect(0, 'timestamp_ms'); h.timestampMs = r.int64(); break;
      case 2: r.expect(0, 'num_cpus'); h.numCpus = r.uint32(); break;
      case 3: r.expect(1, 'cpu_percent'); h.cpuPercent = r.double(); break;
      case 4:
        // Packed (proto3's default) or one value per field, as the spec lets a writer choose.
        if (r.wt === 2) {
          const e = r.span();
          if ((e - r.pos) % 8 !== 0) r.fail('packed doubles with a length not a multiple of 8');
          while (r.pos < e) h.cpuPerCorePercent.push(r.double());
        } else {
          r.expect(1, 'cpu_per_core_percent');
          h.cpuPerCorePercent.push(r.double());
        }
        break;
      case 5: r.expect(1, 'load1'); h.load1 = r.double(); break;
      case 6: r.expect(1, 'load5'); h.load5 = r.double(); break;
      case 7: r.expect(1, 'load15'); h.load15 = r.double(); break;
      case 8: r.expect(0, 'mem_total_bytes'); h.memTotalBytes = r.varint(); break;
      case 9: r.expect(0, 'mem_available_bytes'); h.memAvailableBytes = r.varint(); break;
      case 10: r.expect(0, 'mem_used_bytes'); h.memUsedBytes = r.varint(); break;
      case 11: r.expect(1, 'mem_percent'); h.memPercent = r.double(); break;
      case 12: r.expect(0, 'swap_total_bytes'); h.swapTotalBytes = r.varint(); break;
      case 13: r.expect(0, 'swap_used_bytes'); h.swapUsedBytes = r.varint(); break;
      case 14: r.expect(2, 'disks'); h.disks.push(diskUsage(r)); break;
      case 15: r.expect(0, 'net_rx_bytes'); h.netRxBytes = r.varint(); break;
      case 16: r.expect(0, 'net_tx_bytes'); h.netTxBytes = r.varint(); break;
      case 17: r.expect(0, 'uptime_seconds'); h.uptimeSeconds = r.varint(); break;
      case 18: r.expect(0, 'runtime_available'); h.runtimeAvailable = r.bool(); break;
      default: r.skip();
    }
  }
  r.done(end);
  return h;
}

function containerEvent(r: Reader): Record<string, unknown> {
  const end = r.span();
  const e = {
    containerId: '', containerName: '', action: '', timestampMs: 0, exitCode: 0, health: '',
    attributes: {} as Record<string, string>,
  };
  while (r.pos < end) {
    switch (r.field()) {
      case 1: r.expect(2, 'container_id'); e.containerId = r.string(); break;
      case 2: r.expect(2, 'container_name'); e.containerName = r.string(); break;
      case 3: r.expect(2, 'action'); e.action = r.string(); break;
      case 4: r.expect(0, 'timestamp_ms'); e.timestampMs = r.int64(); break;
      case 5: r.expect(0, 'exit_code'); e.exitCode = r.int32(); break;
      case 6: r.expect(2, 'health'); e.health = r.string(); break;
      case 7: r.expect(2, 'attributes'); mapEntry(r, e.attributes); break;
      default: r.skip();
    }
  }
  r.done(end);
  return e;
}

/** Decodes a MetricData message; throws WireDecodeError for bytes that are not one. */
export function decodeMetricData(buf: Buffer): Record<string, unknown> {
  const r = new Reader(buf);
  const m = {
    agentId: '', hostname: '', sequence: 0, timestampMs: 0, host: null as Record<string, unknown> | null,
    containers: [] as Record<string, unknown>[], events: [] as Record<string, unknown>[], complete: false, intervalMs: 0,
  };
  while (r.pos < buf.length) {
    switch (r.field()) {
      case 1: r.expect(2, 'agent_id'); m.agentId = r.string(); break;
      case 2: r.expect(2, 'hostname'); m.hostname = r.string(); break;
      case 3: r.expect(0, 'sequence'); m.sequence = r.varint(); break;
      case 4: r.expect(0, 'timestamp_ms'); m.timestampMs = r.int64(); break;
      // A repeated occurrence of a message field merges in protobuf; agents never send one, so the last wins.
      case 5: r.expect(2, 'host'); m.host = hostSample(r); break;
      case 6: r.expect(2, 'containers'); m.containers.push(containerSample(r)); break;
      case 7: r.expect(2, 'events'); m.events.push(containerEvent(r)); break;
      case 8: r.expect(0, 'complete'); m.complete = r.bool(); break;
      case 9: r.expect(0, 'interval_ms'); m.intervalMs = r.uint32(); break;
      default: r.skip();
    }
  }
  r.done(buf.length);
  return m;
}
