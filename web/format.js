// Pure formatting helpers (no DOM), shared by the pages and unit-tested in Node.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * Tick labels for one axis: a single unit chosen from the largest tick, and as many decimals as
 * the step between ticks needs, so neighbouring ticks never read the same ("1 B/s, 1 B/s").
 * kind: 'bytes' | 'rate' | 'pct' | 'num'. ticks: Chart.js tick objects ({ value }) or numbers.
 */
export function axisTickLabel(value, index, ticks, kind) {
  const vals = (ticks || []).map((t) => (typeof t === 'number' ? t : t && t.value)).filter((v) => Number.isFinite(v));
  const maxAbs = Math.max(Math.abs(value), ...vals.map(Math.abs));
  let step = Infinity;
  for (let i = 1; i < vals.length; i++) { const d = Math.abs(vals[i] - vals[i - 1]); if (d > 0 && d < step) step = d; }
  if (!Number.isFinite(step)) step = maxAbs || 1;
  let div = 1;
  let unit = '';
  if (kind === 'bytes' || kind === 'rate') {
    let i = 0;
    while (maxAbs / div >= 1024 && i < UNITS.length - 1) { div *= 1024; i++; }
    unit = ` ${UNITS[i]}${kind === 'rate' ? '/s' : ''}`;
  } else if (kind === 'pct') unit = '%';
  else if (maxAbs >= 1e6) { div = 1e6; unit = 'M'; } else if (maxAbs >= 1e4) { div = 1e3; unit = 'k'; }
  const scaledStep = step / div;
  // The fewest decimals that show the step exactly (0.25 -> 2, 0.5 -> 1, 2 -> 0), at most 3.
  let decimals = 0;
  while (decimals < 3 && Math.abs(Math.round(scaledStep * 10 ** decimals) - scaledStep * 10 ** decimals) > 1e-6 * 10 ** decimals) decimals++;
  const v = value / div;
  const text = Math.abs(v) < 1e-12 ? '0' : v.toFixed(decimals);
  return `${text}${unit}`;
}

/**
 * Tick values for a byte axis that fall on round numbers of the unit shown (0, 256 KiB,
 * 512 KiB ... rather than 0, 0.977 KiB, 1.953 KiB): steps of 1, 2, 2.5 or 5 x 10^n units.
 */
export function niceByteTicks(min, max, target = 6) {
  const lo = Math.min(0, min);
  const hi = Math.max(max, lo + 1e-9);
  let div = 1;
  while (hi / div >= 1024 && div < 1024 ** 5) div *= 1024;
  const raw = (hi - lo) / div / Math.max(1, target - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw - 1e-12) * div;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 0.999; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}
