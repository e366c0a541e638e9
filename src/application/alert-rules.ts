// The rules file / PUT /api/alert-rules document: parsing, validation (zod) and the mapping
// to the domain rule set. The document merges into the defaults by rule id, so a file only
// names what it changes:
//   rules: [{ id: cpu, threshold: 80, for: 2m }]
// A new id needs a kind. `for` and `window` take "30s"/"5m" strings or seconds as a number.
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import {
  type AlertRule, type AlertRuleSet, type ContainerOverride, type DefaultRuleSettings, RULE_KINDS, defaultRules,
} from '../domain/alerts/rules.js';
import { TRIGGER_OF_RULE_KIND, parseAutohealValue } from '../domain/autoheal.js';
import { AppError } from './errors.js';

// One transform (not a union) so a bad value reports its own reason, not "Invalid input".
const duration = z.unknown().transform((v, ctx) => {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
  const ms = typeof v === 'string' ? parseDuration(v) : null;
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)} (use e.g. 30s, 5m, or seconds)` });
    return z.NEVER;
  }
  return ms;
});

const glob = z.string().min(1).max(256);

const ruleSchema = z.strictObject({
  id: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1-64)'),
  kind: z.enum(RULE_KINDS as [string, ...string[]]).optional(),
  severity: z.enum(['warning', 'critical']).optional(),
  for: duration.optional(),
  threshold: z.number().min(0).optional(),
  window: duration.optional(),
  enabled: z.boolean().optional(),
  action: z.enum(['restart']).optional(),
});

const overrideSchema = z.strictObject({
  match: glob,
  host: glob.optional(),
  cpu_threshold: z.number().min(0).optional(),
  memory_threshold: z.number().min(0).max(100).optional(),
  alerts: z.union([z.boolean(), z.enum(['on', 'off'])]).optional(),
  autoheal: z.union([z.boolean(), z.string().max(100)]).optional(),
});

const watchSchema = z.strictObject({
  host: glob.default('*'),
  containers: z.array(glob).min(1),
});

export const rulesDocumentSchema = z.strictObject({
  rules: z.array(ruleSchema).optional(),
  overrides: z.array(overrideSchema).optional(),
  watch: z.array(watchSchema).optional(),
});

/** The document as GET /api/alert-rules returns it (and PUT accepts back). */
export interface RulesDocument {
  rules: { id: string; kind: string; severity: string; for: string; threshold: number; window?: string; enabled: boolean; action?: string }[];
  overrides: { match: string; host?: string; cpu_threshold?: number; memory_threshold?: number; alerts?: boolean; autoheal?: string }[];
  watch: { host: string; containers: string[] }[];
}

/**
 * Validates a parsed document and merges it into the defaults. `where` prefixes the error's
 * field: `${file}:` for the rules file, '' for the API body.
 */
export function buildRuleSet(doc: unknown, defaults: DefaultRuleSettings, where = ''): AlertRuleSet {
  const r = rulesDocumentSchema.safeParse(doc ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.map(String).join('.') || '(root)';
    throw new AppError('INVALID_ARGUMENT', `${where}${path}: ${issue.message}`, { field: `${where}${path}` });
  }
  const set = defaultRules(defaults);
  const fail = (path: string, reason: string): never => {
    throw new AppError('INVALID_ARGUMENT', `${where}${path}: ${reason}`, { field: `${where}${path}` });
  };
  const seen = new Set<string>();
  (r.data.rules ?? []).forEach((d, i) => {
    if (seen.has(d.id)) fail(`rules.${i}.id`, `duplicate rule id "${d.id}"`);
    seen.add(d.id);
    const base = set.rules.find((x) => x.id === d.id);
    if (!base && !d.kind) fail(`rules.${i}.kind`, `rule "${d.id}" is not a default rule, so it needs a kind`);
    if (base && d.kind && d.kind !== base.kind) fail(`rules.${i}.kind`, `rule "${d.id}" is a ${base.kind} rule`);
    const kind = (d.kind ?? base!.kind) as AlertRule['kind'];
    if (kind === 'restart_loop' && base === undefined && d.window === undefined) fail(`rules.${i}.window`, 'restart_loop needs a window');
    const merged: AlertRule = {
      id: d.id, kind, severity: d.severity ?? base?.severity ?? 'warning', forMs: d.for ?? base?.forMs ?? 0,
      threshold: d.threshold ?? base?.threshold ?? 0, windowMs: d.window ?? base?.windowMs ?? 0, enabled: d.enabled ?? true,
      ...(d.action ? { action: d.action } : {}),
    };
    if (merged.action && !(kind in TRIGGER_OF_RULE_KIND)) {
      fail(`rules.${i}.action`, `restart applies to ${Object.keys(TRIGGER_OF_RULE_KIND).join(', ')} rules, not ${kind}`);
    }
    if ((kind === 'cpu_spike' || kind === 'memory_spike') && merged.threshold <= 0) fail(`rules.${i}.threshold`, 'a spike needs a positive threshold');
    if (base) Object.assign(base, merged);
    else set.rules.push(merged);
  });
  (r.data.overrides ?? []).forEach((o, i) => {
    let autoheal: ContainerOverride['autoheal'];
    if (o.autoheal !== undefined) {
      try {
        autoheal = [...parseAutohealValue(String(o.autoheal))];
      } catch (err) {
        fail(`overrides.${i}.autoheal`, (err as Error).message);
      }
    }
    set.overrides.push({
      match: o.match,
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.cpu_threshold !== undefined ? { cpuThreshold: o.cpu_threshold } : {}),
      ...(o.memory_threshold !== undefined ? { memoryThreshold: o.memory_threshold } : {}),
      ...(o.alerts !== undefined ? { alerts: o.alerts === true || o.alerts === 'on' } : {}),
      ...(autoheal !== undefined ? { autoheal } : {}),
    });
  });
  for (const w of r.data.watch ?? []) set.watch.push({ host: w.host, containers: w.containers });
  return set;
}

/** Parses rules file text (YAML, which also reads JSON). */
export function parseRulesText(text: string, file: string, defaults: DefaultRuleSettings): AlertRuleSet {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const pos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const at = pos ? `line ${pos.line}` : '(root)';
    throw new AppError('INVALID_ARGUMENT', `${file}:${at}: ${(err as Error).message.split('\n')[0]}`,
      { field: `${file}:${at}` });
  }
  return buildRuleSet(doc, defaults, `${file}:`);
}

/** Start-up loading: reads the file through the given reader, validates, throws INVALID_ARGUMENT naming file and path. */
export async function loadAlertRules(opts: {
  file?: string;
  readText: (file: string) => Promise<string>;
  defaults: DefaultRuleSettings;
}): Promise<AlertRuleSet> {
  if (!opts.file) return defaultRules(opts.defaults);
  let text: string;
  try {
    text = await opts.readText(opts.file);
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `${opts.file}: cannot read: ${(err as Error).message}`,
      { field: opts.file, cause: err });
  }
  return parseRulesText(text, opts.file, opts.defaults);
}

const fmtDuration = (ms: number): string =>
  ms % 3_600_000 === 0 && ms > 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m`
    : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;

export function toRulesDocument(set: AlertRuleSet): RulesDocument {
  return {
    rules: set.rules.map((r) => ({
      id: r.id, kind: r.kind, severity: r.severity, for: fmtDuration(r.forMs), threshold: r.threshold,
      ...(r.kind === 'restart_loop' ? { window: fmtDuration(r.windowMs) } : {}), enabled: r.enabled,
      ...(r.action ? { action: r.action } : {}),
    })),
    overrides: set.overrides.map((o) => ({
      match: o.match,
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.cpuThreshold !== undefined ? { cpu_threshold: o.cpuThreshold } : {}),
      ...(o.memoryThreshold !== undefined ? { memory_threshold: o.memoryThreshold } : {}),
      ...(o.alerts !== undefined ? { alerts: o.alerts } : {}),
      ...(o.autoheal !== undefined ? { autoheal: o.autoheal.length > 0 ? o.autoheal.join(',') : 'false' } : {}),
    })),
    watch: set.watch.filter((w) => w.source !== 'env').map((w) => ({ host: w.host, containers: [...w.containers] })),
  };
}
