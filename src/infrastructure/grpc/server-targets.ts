// Which server an agent streams to, when SERVER_ADDR names several: a comma list of host:port,
// or a DNS name with several A/AAAA records (a Kubernetes headless Service), or both.
//
// Order: rendezvous hashing (highest random weight) of the agent's key with each address. An
// agent's first choice is the top of its own ranking, so a fleet spreads evenly over the
// replicas; on loss it moves down its ranking, so the agents of a lost replica spread over
// all the others instead of piling onto one; and when a replica comes or goes, only the agents
// whose ranking it tops move.
//
// Names are resolved with node:dns (getaddrinfo, so /etc/hosts counts too) at start and again
// before each reconnect, so pods that came or went are seen. IPv4 addresses are used when a name
// has any (a dual-stack host is one server, not two). A name that does not resolve, or resolves
// to a single address, is kept as it is and left to grpc-js (which resolves and retries itself).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ServerTarget {
  /** What grpc-js dials: ip:port ([v6]:port), or the name:port when it did not resolve. */
  address: string;
  /** The host name it came from (for TLS server-name checks and :authority); undefined for literal IPs. */
  hostname: string | undefined;
}

export type Resolve = (host: string) => Promise<string[]>;

/** Every address a name has (IPv4 and IPv6), as getaddrinfo gives them. */
export const resolveAll: Resolve = async (host) => {
  const all = await lookup(host, { all: true, verbatim: true });
  const v4 = all.filter((a) => a.family === 4);
  return (v4.length > 0 ? v4 : all).map((a) => a.address);
};

/** Splits SERVER_ADDR into host:port entries; throws naming the first bad one. */
export function parseServerList(value: string): Array<{ host: string; port: number }> {
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('no server address');
  return entries.map((e) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(e);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`bad server address "${e}" (want host:port)`);
    const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
    return { host, port: Number(m[2]) };
  });
}

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** FNV-1a, 32 bits: a stable, well-spread weight for rendezvous hashing. */
export function weight(key: string, address: string): number {
  let h = 0x811c9dc5;
  const s = `${key}|${address}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3 fmix32): FNV's low bits alone spread similar keys poorly.
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

/** The agent's ranking of the targets: first choice first. */
export function rank(key: string, targets: ServerTarget[]): ServerTarget[] {
  return targets
    .map((t) => ({ t, w: weight(key, t.address) }))
    .sort((a, b) => b.w - a.w || (a.t.address < b.t.address ? -1 : 1))
    .map((x) => x.t);
}

/** Resolves every entry; duplicates (a name and its IP both listed) count once. */
export async function resolveTargets(value: string, resolve: Resolve = resolveAll): Promise<ServerTarget[]> {
  const out = new Map<string, ServerTarget>();
  for (const { host, port } of parseServerList(value)) {
    if (isIP(host)) {
      out.set(hostPort(host, port), { address: hostPort(host, port), hostname: undefined });
      continue;
    }
    let ips: string[] = [];
    try { ips = await resolve(host); } catch { /* left to grpc-js */ }
    if (ips.length <= 1) out.set(`${host}:${port}`, { address: `${host}:${port}`, hostname: host });
    else for (const ip of ips) out.set(hostPort(ip, port), { address: hostPort(ip, port), hostname: host });
  }
  return [...out.values()];
}
