// /proc/<pid>/net/dev and /proc/net/dev: rx/tx bytes summed over the interfaces `skip` lets through.
// Shared by the container (cgroup) and host collectors, which differ only in what they skip.
export function sumNetDev(text: string, skip: (iface: string) => boolean): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  const lines = text.split('\n');
  // Two header lines, then "  eth0: rxBytes ... (8 rx fields) txBytes ...".
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0 || skip(line.slice(0, colon).trim())) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    rx += counter(f[0]);
    tx += counter(f[8]);
  }
  return { rx, tx };
}

const counter = (s: string | undefined): number => {
  const n = Number.parseInt(s ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
};
