// The server's MetricData decoder against proto-loader's, on generated messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMetricsService } from '../../src/infrastructure/grpc/proto.js';
import { decodeMetricData, WireDecodeError } from '../../src/infrastructure/grpc/wire-decoder.js';

const def = loadMetricsService().service.StreamMetrics!;
const encode = (m: Record<string, unknown>): Buffer => def.requestSerialize(m) as Buffer;
const reference = (b: Buffer): unknown => def.requestDeserialize(b);

// A small deterministic generator, so a failure can be replayed by its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function generate(seed: number): Record<string, unknown> {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(v: T): T | undefined => (r() < 0.2 ? undefined : v);
  const u64 = (): number => pick([0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, Math.floor(r() * 1e12)]);
  const i64 = (): number => pick([0, -1, -(2 ** 40), 1_700_000_000_123, -5, 2 ** 35]);
  const dbl = (): number => pick([0, 0.5, -3.25, 1e300, Number.MIN_VALUE, r() * 100, NaN, Infinity]);
  const str = (): string => pick(['', 'a', 'web-1', 'ünïcødé ✓', 'x'.repeat(300), 'tab\there']);
  const labels = (): Record<string, string> => Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [str(), str()]));
  const container = () => ({
    id: maybe(str()), name: maybe(str()), image: maybe(str()), labels: maybe(labels()), state: maybe(str()), health: maybe(str()),
    restartCount: maybe(pick([0, 3, 2 ** 32 - 1])), exitCode: maybe(pick([0, 1, -1, 137, -(2 ** 31), 2 ** 31 - 1])),
    oomKilled: maybe(r() < 0.5), startedAtMs: maybe(i64()), timestampMs: maybe(i64()), cpuPercent: maybe(dbl()),
    cpuUsageNs: maybe(u64()), onlineCpus: maybe(pick([0, 2, 64])), memUsageBytes: maybe(u64()), memLimitBytes: maybe(u64()),
    memPercent: maybe(dbl()), memRawUsageBytes: maybe(u64()), netRxBytes: maybe(u64()), netTxBytes: maybe(u64()),
    blkReadBytes: maybe(u64()), blkWriteBytes: maybe(u64()), pids: maybe(u64()), source: maybe(str()),
  });
  const host = () => ({
    timestampMs: maybe(i64()), numCpus: maybe(pick([1, 2, 128])), cpuPercent: maybe(dbl()),
    cpuPerCorePercent: maybe(Array.from({ length: Math.floor(r() * 5) }, dbl)), load1: maybe(dbl()), load5: maybe(dbl()), load15: maybe(dbl()),
    memTotalBytes: maybe(u64()), memAvailableBytes: maybe(u64()), memUsedBytes: maybe(u64()), memPercent: maybe(dbl()),
    swapTotalBytes: maybe(u64()), swapUsedBytes: maybe(u64()),
    disks: maybe(Array.from({ length: Math.floor(r() * 3) }, () => ({ mount: str(), device: maybe(str()), fsType: str(), totalBytes: u64(), usedBytes: maybe(u64()), usedPercent: dbl() }))),
    netRxBytes: maybe(u64()), netTxBytes: maybe(u64()), uptimeSeconds: maybe(u64()), runtimeAvailable: maybe(r() < 0.5),
  });
  const event = () => ({
    containerId: maybe(str()), containerName: maybe(str()), action: maybe(pick(['die', 'start', 'oom'])), timestampMs: maybe(i64()),
    exitCode: maybe(pick([0, -1, 137])), health: maybe(str()), attributes: maybe(labels()),
  });
  return {
    agentId: maybe(str()), hostname: maybe(str()), sequence: maybe(u64()), timestampMs: maybe(i64()),
    host: r() < 0.3 ? undefined : host(),
    containers: Array.from({ length: Math.floor(r() * 6) }, container),
    events: Array.from({ length: Math.floor(r() * 3) }, event),
    complete: maybe(r() < 0.5), intervalMs: maybe(pick([0, 1000, 2 ** 32 - 1])),
  };
}

test('decodes 500 generated messages exactly as proto-loader does', () => {
  for (let seed = 1; seed <= 500; seed++) {
    const bytes = encode(generate(seed));
    assert.deepEqual(decodeMetricData(bytes), reference(bytes), `seed ${seed}`);
  }
});

test('strings that share their length and ends (one intern slot) still decode to themselves, alternately and repeatedly', () => {
  // The decoder interns short ASCII strings by a hash of their length and first and last bytes.
  const names = ['aaaaaaaa-1-bbbbbbbb', 'aaaaaaaa-2-bbbbbbbb', 'aaaaaaaa-\u00e9-bbbbbbb', 'aaaaaaaa-3-bbbbbbbb'];
  for (let round = 0; round < 3; round++) {
    for (const name of names) {
      const bytes = encode({ agentId: name, containers: [{ id: name, name, labels: { [name]: name } }] });
      const got = decodeMetricData(bytes) as { agentId: string; containers: Array<{ id: string; name: string; labels: Record<string, string> }> };
      assert.equal(got.agentId, name);
      assert.equal(got.containers[0]!.id, name);
      assert.equal(got.containers[0]!.name, name);
      assert.deepEqual(got.containers[0]!.labels, { [name]: name });
      assert.deepEqual(got, reference(bytes));
    }
  }
});

/** Protobuf key bytes for a field number and wire type. */
const key = (no: number, wt: number): number[] => {
  const out: number[] = [];
  let v = no * 8 + wt;
  while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
};

test('skips unknown fields of every wire type, as a reader of an older schema must', () => {
  const base = encode(generate(7));
  const extra = Buffer.from([
    ...key(99, 0), 0x96, 0x01, // varint
    ...key(100, 1), 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
    ...key(101, 2), 3, 0x61, 0x62, 0x63, // bytes
    ...key(102, 5), 1, 2, 3, 4, // fixed32
  ]);
  const bytes = Buffer.concat([extra, base, extra]);
  assert.deepEqual(decodeMetricData(bytes), reference(bytes));
});

test('reads cpu_per_core_percent packed and unpacked alike', () => {
  const d = (v: number): number[] => { const b = Buffer.alloc(8); b.writeDoubleLE(v); return [...b]; };
  const unpacked = Buffer.from([...key(4, 1), ...d(12.5), ...key(4, 1), ...d(99)]);
  const msg = Buffer.from([...key(5, 2), unpacked.length, ...unpacked]);
  const got = decodeMetricData(msg) as { host: { cpuPerCorePercent: number[] } };
  assert.deepEqual(got.host.cpuPerCorePercent, [12.5, 99]);
  assert.deepEqual(got, reference(msg));
});

test('truncated or malformed bytes throw a WireDecodeError that says where', () => {
  const bytes = encode(generate(11));
  for (const cut of [1, 5, Math.floor(bytes.length / 2), bytes.length - 1]) {
    assert.throws(() => decodeMetricData(bytes.subarray(0, cut)), WireDecodeError, `cut at ${cut}`);
  }
  assert.throws(() => decodeMetricData(Buffer.from([...key(3, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /longer than 10 bytes/);
  assert.throws(() => decodeMetricData(Buffer.from([...key(3, 2), 1, 0])), /field sequence has wire type 2, expected 0/);
  assert.throws(() => decodeMetricData(Buffer.from([...key(50, 3)])), /unsupported wire type 3/);
  assert.throws(() => decodeMetricData(Buffer.from([...key(6, 2), 50, 1])), /length beyond the end/);
});
