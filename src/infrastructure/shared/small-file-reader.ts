// Reads small kernel files (cgroup, /proc) cheaply: the file stays open and each read is one
// pread at offset 0 (seq_file regenerates the content), so a read is one thread-pool hop
// instead of open+fstat+read+close. Measured on 600 reads (100 containers x 6 files):
// fs.promises.readFile 37.7 ms CPU, readFileSync 6.0 ms, fs.read on kept fds 2.7 ms,
// readSync on kept fds 0.9 ms.
import { close, closeSync, open, openSync, read, readFile, readSync } from 'node:fs';

export interface SmallFileReaderOptions {
  /** Most files kept open at once (default 4096); beyond it files are opened per read. */
  maxOpen?: number;
  /** Read synchronously (blocks the event loop ~10 us per file, cheapest in CPU). Default false. */
  sync?: boolean;
  /** Files larger than this are read the slow way (default 16 KiB). */
  bufferSize?: number;
}

export interface SmallFileReader {
  read(path: string): Promise<string>;
  /** Closes the kept descriptor of a file whose cgroup or process went away. */
  forget(path: string): void;
  openCount(): number;
  close(): void;
}

export function createSmallFileReader(opts: SmallFileReaderOptions = {}): SmallFileReader {
  const maxOpen = opts.maxOpen ?? 4096;
  const size = opts.bufferSize ?? 16 * 1024;
  const fds = new Map<string, number>();
  const pool: Buffer[] = [];
  const syncBuf = Buffer.allocUnsafe(size);

  const take = () => pool.pop() ?? Buffer.allocUnsafe(size);
  const give = (b: Buffer) => {
    if (pool.length < 32) pool.push(b);
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

  function readSyncPath(path: string): Promise<string> {
    try {
      let fd = fds.get(path);
      const keep = fd === undefined && fds.size < maxOpen;
      if (fd === undefined) fd = openSync(path, 'r');
      if (keep) fds.set(path, fd);
      try {
        const n = readSync(fd, syncBuf, 0, size, 0);
        if (n >= size) return slow(path);
        return Promise.resolve(syncBuf.toString('latin1', 0, n));
      } finally {
        if (!fds.has(path)) closeSync(fd);
      }
    } catch (err) {
      drop(path);
      return Promise.reject(err);
    }
  }

  function readAsync(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const withFd = (fd: number, kept: boolean) => {
        const buf = take();
        read(fd, buf, 0, size, 0, (err, n) => {
          if (!kept) close(fd, () => {});
          if (err) {
            give(buf);
            if (kept) drop(path);
            return reject(err);
          }
          const text = n >= size ? null : buf.toString('latin1', 0, n);
          give(buf);
          if (text === null) slow(path).then(resolve, reject);
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
    forget: drop,
    openCount: () => fds.size,
    close(): void {
      for (const path of [...fds.keys()]) drop(path);
    },
  };
}
