// A private influxd for tests that must kill it: own temp dir, own loopback ports.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './wait.js';

export { freePort };

export interface Influxd {
  url: string;
  dir: string;
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same dir and ports. */
  start(): Promise<void>;
  pid(): number | undefined;
}

export async function startInfluxd(opts: { auth?: boolean } = {}): Promise<Influxd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dw-storage-influxd-'));
  const httpPort = await freePort();
  const rpcPort = await freePort();
  const conf = path.join(dir, 'influxdb.conf');
  fs.writeFileSync(conf, [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]', `  dir = "${dir}/meta"`,
    '[data]', `  dir = "${dir}/data"`, `  wal-dir = "${dir}/wal"`, '  query-log-enabled = false',
    '[monitor]', '  store-enabled = false',
    '[http]', `  bind-address = "127.0.0.1:${httpPort}"`, '  log-enabled = false', `  auth-enabled = ${opts.auth ? 'true' : 'false'}`,
    '',
  ].join('\n'));
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  const log = fs.openSync(path.join(dir, 'influxd.log'), 'a');

  async function start(): Promise<void> {
    child = spawn('influxd', ['-config', conf], { stdio: ['ignore', log, log] });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${url}/ping`);
        if (r.status === 204) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`influxd did not answer on ${url}; see ${dir}/influxd.log`);
  }
  async function kill(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }
  await start();
  return { url, dir, kill, start, pid: () => child?.pid };
}

/** Timestamps (ms) of every stored point of a container, straight from InfluxDB, oldest first. */
export async function storedTimestamps(url: string, db: string, containerId: string): Promise<number[]> {
  const q = `SELECT cpu_percent FROM container WHERE container_id = '${containerId}'`;
  const res = await fetch(`${url}/query?db=${db}&epoch=ms&q=${encodeURIComponent(q)}`);
  const body = await res.json() as { results: Array<{ series?: Array<{ values: Array<[number, number]> }> }> };
  return (body.results[0]?.series?.[0]?.values ?? []).map((v) => v[0]);
}
