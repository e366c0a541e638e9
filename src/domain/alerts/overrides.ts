// Per-container settings: rules-file overrides and container labels.
import { globMatch } from './glob.js';
import { type AlertRuleSet, LABEL_ALERTS, LABEL_CPU, LABEL_MEMORY } from './rules.js';

export interface Effective { cpu?: number; mem?: number; off: boolean }

/** Rules-file overrides in order (later wins), then the container's own labels. */
export function effectiveSettings(rules: AlertRuleSet, host: string, rec: { name: string; labels: Record<string, string> }): Effective {
  const eff: Effective = { off: false };
  for (const o of rules.overrides) {
    if (!globMatch(o.match, rec.name) || (o.host !== undefined && !globMatch(o.host, host))) continue;
    if (o.cpuThreshold !== undefined) eff.cpu = o.cpuThreshold;
    if (o.memoryThreshold !== undefined) eff.mem = o.memoryThreshold;
    if (o.alerts !== undefined) eff.off = !o.alerts;
  }
  const labelOff = rec.labels[LABEL_ALERTS]?.trim().toLowerCase();
  if (labelOff !== undefined) eff.off = ['off', 'false', 'no', '0', 'disabled'].includes(labelOff);
  const cpu = labelNumber(rec.labels[LABEL_CPU]);
  if (cpu !== undefined) eff.cpu = cpu;
  const mem = labelNumber(rec.labels[LABEL_MEMORY]);
  if (mem !== undefined) eff.mem = mem;
  return eff;
}

function labelNumber(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
