// What TLS to a remote engine costs the agent's memory, by client (docs/decisions/007-remote-engines-tls.md):
//   engine    - our Engine client (src/infrastructure/docker/engine-client.ts) over node:https
//   dockerode - dockerode 5 (docker-modem) with the same ca/cert/key
// Both run the same raw loop against the engine in DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH:
// one /events stream for the whole run, and every second: list all containers, inspect each,
// one-shot stats of each running one (concurrency 16, as the collector). No caches, so both do
// the same calls. Prints one JSON line: RSS and heap after the first round, peak and at the end.
// Run it bundled, without tsx in the process (see the decision record for the exact commands):
//   npx esbuild bench/engine-tls-rss.ts --bundle --platform=node --format=esm --packages=external --outfile=/tmp/engine-tls-rss.mjs
//   node /tmp/engine-tls-rss.mjs engine 60
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngineClient } from '../src/infrastructure/docker/engine-client.js';

type Item = { Id: string; State: string };
interface Calls {
  list(): Promise<Item[]>;
  inspect(id: string): Promise<unknown>;
  stats(id: string): Promise<unknown>;
  events(onEvent: () => void): Promise<void>;
}

const [which = 'engine', secondsArg = '60'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const certPath = process.env.DOCKER_CERT_PATH!;
const pem = (f: string) => readFileSync(join(certPath, f));
const m = /^tcp:\/\/([^:/]+):(\d+)/.exec(process.env.DOCKER_HOST ?? '');
if (!m || !process.env.DOCKER_TLS_VERIFY) throw new Error('set DOCKER_HOST=tcp://host:port, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH');

async function engineCalls(): Promise<Calls> {
  const c = createEngineClient(process.env.DOCKER_HOST, { tls: { verify: true, ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') } });
  return {
    list: () => c.getJson<Item[]>('/containers/json?all=1'),
    inspect: (id) => c.getJson(`/containers/${id}/json`),
    stats: (id) => c.getJson(`/containers/${id}/stats?stream=false&one-shot=true`),
    async events(onEvent) {
      const res = await c.stream('/events?filters=' + encodeURIComponent(JSON.stringify({ type: ['container'] })));
      res.on('data', onEvent);
    },
  };
}

async function dockerodeCalls(): Promise<Calls> {
  const { default: Docker } = await import('dockerode');
  const d = new Docker({ host: m![1], port: Number(m![2]), protocol: 'https', ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') });
  return {
    list: () => d.listContainers({ all: true }) as Promise<Item[]>,
    inspect: (id) => d.getContainer(id).inspect(),
    stats: (id) => d.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false }),
    async events(onEvent) {
      const s = await d.getEvents({ filters: { type: ['container'] } });
      s.on('data', onEvent);
    },
  };
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
const calls = which === 'dockerode' ? await dockerodeCalls() : await engineCalls();
let events = 0;
await calls.events(() => { events++; });
let peak = 0;
let first: NodeJS.MemoryUsage | undefined;
let rounds = 0;
let containers = 0;
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  const t0 = Date.now();
  const list = await calls.list();
  containers = list.length;
  await pool(list, 16, (c) => calls.inspect(c.Id));
  await pool(list.filter((c) => c.State === 'running'), 16, (c) => calls.stats(c.Id));
  rounds++;
  const mu = process.memoryUsage();
  first ??= mu;
  peak = Math.max(peak, mu.rss);
  await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
}
const last = process.memoryUsage();
console.log(JSON.stringify({
  client: which, node: process.version, containers, rounds, events,
  rssFirstMB: mb(first!.rss), rssPeakMB: mb(peak), rssEndMB: mb(last.rss), heapUsedEndMB: mb(last.heapUsed),
}));
process.exit(0);
