// Reads small kernel files (cgroup, /proc) cheaply: the file stays open and each read is one
// pread at offset 0 (seq_file regenerates the content), so a read is one thread-pool hop
// instead of open+fstat+read+close. Measured on 600 reads (100 containers x 6 files):
// fs.promises.readFile 37.7 ms CPU, readFileSync 6.0 ms, fs.read on kept fds 2.7 ms,
// readSync on kept fds 0.9 ms.
import { close, closeSync, open, openSync, read, readFile, readFileSync, readSync } from 'node:fs';

export interface SmallFileReaderOptions {
  /** Most files kept open at once (default 4096); beyond it files are opened per read. */
  maxOpen?: number;
  /** Read synchronously (blocks the event loop ~10 us per file, cheapest in CPU). Default false. */
  sync?: boolean;
  /** Read buffer size (default 4 KiB: cgroup files are ~1 KiB). A file that overflows it once is
   *  read with a 64 KiB buffer from then on, and larger ones the slow way. */
  bufferSize?: number;
}

export interface SmallFileReader {
  read(path: string): Promise<string>;
  /** Synchronous read on the kept descriptor; throws like readFileSync. */
  readNow(path: string): string;
  /** Closes the kept descriptor of a file whose cgroup or process went away. */
  forget(path: string): void;
  openCount(): number;
  close(): void;
}

export function createSmallFileReader(opts: SmallFileReaderOptions = {}): SmallFileReader {
  const maxOpen = opts.maxOpen ?? 4096;
  const small = opts.bufferSize ?? 4096;
  const large = Math.max(small, 64 * 1024);
  const fds = new Map<string, number>();
  /** Paths that did not fit the small buffer. */
  const big = new Set<string>();
  // Buffers are reused: allocating one per read churns external memory that V8 frees late,
  // which showed up as ~40 MB of extra RSS at 100 containers.
  const pools = new Map<number, Buffer[]>([[small, []], [large, []]]);
  const syncBufs = new Map<number, Buffer>();
  const sizeFor = (path: string) => (big.has(path) ? large : small);
  const take = (size: number) => pools.get(size)!.pop() ?? Buffer.allocUnsafe(size);
  const give = (b: Buffer) => {
    const pool = pools.get(b.length)!;
    if (pool.length < 256) pool.push(b);
  };
  const syncBuf = (size: number) => {
    let b = syncBufs.get(size);
    if (!b) syncBufs.set(size, (b = Buffer.allocUnsafe(size)));
    return b;
  };
  /** A read filled the buffer: the file may be longer. Go bigger next time, read it whole now. */
  const overflow = (path: string) => {
    big.add(path);
    return slow(path);
  };

  function drop(path: string): void {
    const fd = fds.get(path);
    if (fd === undefined) return;
    fds.delete(path);
    close(fd, () => {});
  }

  function slow(path: string): Promise<string> {
    return new Promise((resolve, reject) => readFile(path, 'latin1', (err, t) => (err ? reject(err) : resolve(t))));
  }

  function readNow(path: string): string {
    try {
      let fd = fds.get(path);
      const keep = fd === undefined && fds.size < maxOpen;
      if (fd === undefined) fd = openSync(path, 'r');
      if (keep) fds.set(path, fd);
      try {
        const size = sizeFor(path);
        const buf = syncBuf(size);
        const n = readSync(fd, buf, 0, size, 0);
        if (n < size) return buf.toString('latin1', 0, n);
        big.add(path);
        return readFileSync(path, 'latin1');
      } finally {
        if (!fds.has(path)) closeSync(fd);
      }
    } catch (err) {
      drop(path);
      throw err;
    }
  }

  function readSyncPath(path: string): Promise<string> {
    try {
      return Promise.resolve(readNow(path));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  function readAsync(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const withFd = (fd: number, kept: boolean) => {
        const size = sizeFor(path);
        const buf = take(size);
        read(fd, buf, 0, size, 0, (err, n) => {
          if (!kept) close(fd, () => {});
          if (err) {
            give(buf);
            if (kept) drop(path);
            return reject(err);
          }
          const text = n >= size ? null : buf.toString('latin1', 0, n);
          give(buf);
          if (text === null) overflow(path).then(resolve, reject);
          else resolve(text);
        });
      };
      const fd = fds.get(path);
      if (fd !== undefined) return withFd(fd, true);
      open(path, 'r', (err, newFd) => {
        if (err) return reject(err);
        // Another read of the same path may have opened it meanwhile: keep one.
        const kept = !fds.has(path) && fds.size < maxOpen;
        if (kept) fds.set(path, newFd);
        withFd(newFd, kept);
      });
    });
  }

  return {
    read: opts.sync ? readSyncPath : readAsync,
    readNow,
    forget: drop,
    openCount: () => fds.size,
    close(): void {
      for (const path of [...fds.keys()]) drop(path);
    },
  };
}
