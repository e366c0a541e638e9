// Subscription filters shared by SubscribeToMetrics (gRPC) and the WebSocket feed.
// Each list is OR-ed within itself and AND-ed with the others; an empty list means "all".
// A malformed filter is refused up front with INVALID_ARGUMENT naming the field, so a
// client never silently receives nothing because of a typo.
import picomatch from 'picomatch';
import type { ContainerEvent, HostedContainerSample, MetricBatch } from '../domain/types.js';
import { invalidArgument } from './errors.js';

export interface SubscriptionFilterInput {
  /** Hostnames or agent ids, exact match. */
  hosts?: readonly string[];
  /** Full container ids or id prefixes (e.g. the 12-character short id). */
  containerIds?: readonly string[];
  /** Container name globs, e.g. "web-*". */
  names?: readonly string[];
  /** Label selectors: "key", "!key", "key=value", "key!=value". */
  labels?: readonly string[];
  /** Also deliver host samples (default false). */
  includeHost?: boolean;
}

/** How each field is called in error messages; defaults to the proto (snake_case) names. */
export type FilterFieldNames = Record<'hosts' | 'containerIds' | 'names' | 'labels', string>;

const PROTO_FIELD_NAMES: FilterFieldNames = {
  hosts: 'hosts', containerIds: 'container_ids', names: 'names', labels: 'labels',
};

/** The parts of a container a filter looks at. */
export type FilterableContainer = Pick<HostedContainerSample, 'id' | 'name' | 'labels' | 'host' | 'agentId'>;

export interface SubscriptionFilter {
  readonly includeHost: boolean;
  matchesHost(hostname: string, agentId: string): boolean;
  matchesContainer(c: FilterableContainer): boolean;
  /** The part of a batch this subscriber should see, or null when nothing is left. */
  filterBatch(batch: MetricBatch): MetricBatch | null;
}

export type LabelSelector =
  | { op: 'exists'; key: string }
  | { op: 'absent'; key: string }
  | { op: 'eq'; key: string; value: string }
  | { op: 'neq'; key: string; value: string };

const MAX_ITEMS = 100;
const MAX_PATTERN = 256;
// Docker label keys are reverse-DNS-ish: letters, digits, dots, dashes, underscores, slashes.
const LABEL_KEY = /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/;

/** Parses one label selector; throws INVALID_ARGUMENT naming `field`. */
export function parseLabelSelector(selector: string, field: string): LabelSelector {
  const s = selector.trim();
  if (s === '') throw invalidArgument(field, 'empty label selector');
  if (s.startsWith('!')) {
    const key = s.slice(1);
    if (!LABEL_KEY.test(key)) {
      throw invalidArgument(field, `"!" takes a bare label key, got ${JSON.stringify(selector)}`);
    }
    return { op: 'absent', key };
  }
  const m = /^([^=!<>~]*)([=!<>~]*)(.*)$/s.exec(s);
  const key = m?.[1] ?? '';
  const op = m?.[2] ?? '';
  const value = m?.[3] ?? '';
  if (key === '') throw invalidArgument(field, `missing label key in ${JSON.stringify(selector)}`);
  if (!LABEL_KEY.test(key)) throw invalidArgument(field, `invalid label key ${JSON.stringify(key)}`);
  if (op === '') {
    if (value !== '') throw invalidArgument(field, `invalid label key ${JSON.stringify(s)}`);
    return { op: 'exists', key };
  }
  if (op === '=') return { op: 'eq', key, value };
  if (op === '!=') return { op: 'neq', key, value };
  throw invalidArgument(field, `unknown operator ${JSON.stringify(op)} (use key, !key, key=value or key!=value)`);
}

export function matchLabels(selector: LabelSelector, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, selector.key);
  switch (selector.op) {
    case 'exists': return has;
    case 'absent': return !has;
    case 'eq': return has && labels[selector.key] === selector.value;
    case 'neq': return !has || labels[selector.key] !== selector.value;
  }
}

/**
 * Refuses globs picomatch would quietly accept but that cannot be what the user meant:
 * unbalanced [], {} or (), a trailing escape, an empty or huge pattern.
 */
export function checkGlob(pattern: string, field: string): void {
  if (pattern === '') throw invalidArgument(field, 'empty glob');
  if (pattern.length > MAX_PATTERN) throw invalidArgument(field, `glob longer than ${MAX_PATTERN} characters`);
  const closers: Record<string, string> = { ']': '[', '}': '{', ')': '(' };
  const stack: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      if (i === pattern.length - 1) throw invalidArgument(field, 'glob ends with an escape "\\"');
      i++;
      continue;
    }
    // Inside a character class only "]" is special.
    if (stack[stack.length - 1] === '[') {
      if (ch === ']' && pattern[i - 1] !== '[') stack.pop();
      continue;
    }
    if (ch === '[' || ch === '{' || ch === '(') stack.push(ch);
    else if (ch in closers) {
      if (stack.pop() !== closers[ch]) throw invalidArgument(field, `unbalanced "${ch}" in glob ${JSON.stringify(pattern)}`);
    }
  }
  if (stack.length > 0) {
    throw invalidArgument(field, `unclosed "${stack[stack.length - 1]}" in glob ${JSON.stringify(pattern)}`);
  }
}

function checkList(list: readonly string[] | undefined, field: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw invalidArgument(field, 'must be a list of strings');
  if (list.length > MAX_ITEMS) throw invalidArgument(field, `at most ${MAX_ITEMS} entries`);
  list.forEach((v, i) => {
    if (typeof v !== 'string') throw invalidArgument(`${field}[${i}]`, 'must be a string');
  });
  return [...list];
}

/** Compiles a filter; throws AppError INVALID_ARGUMENT with the offending field, e.g. "labels[1]". */
export function compileSubscriptionFilter(
  input: SubscriptionFilterInput,
  fieldNames: FilterFieldNames = PROTO_FIELD_NAMES,
): SubscriptionFilter {
  const hosts = checkList(input.hosts, fieldNames.hosts);
  hosts.forEach((h, i) => { if (h.trim() === '') throw invalidArgument(`${fieldNames.hosts}[${i}]`, 'empty host'); });

  const ids = checkList(input.containerIds, fieldNames.containerIds).map((id, i) => {
    const v = id.trim().toLowerCase();
    if (v === '') throw invalidArgument(`${fieldNames.containerIds}[${i}]`, 'empty container id');
    return v;
  });

  const nameMatchers = checkList(input.names, fieldNames.names).map((glob, i) => {
    checkGlob(glob, `${fieldNames.names}[${i}]`);
    // Docker reports names with a leading "/" in some APIs; match either spelling.
    const m = picomatch(glob.replace(/^\//, ''), { dot: true });
    return (name: string) => m(name.replace(/^\//, ''));
  });

  const selectors = checkList(input.labels, fieldNames.labels)
    .map((s, i) => parseLabelSelector(s, `${fieldNames.labels}[${i}]`));

  const hostSet = new Set(hosts);
  const includeHost = input.includeHost === true;

  const matchesHost = (hostname: string, agentId: string): boolean =>
    hostSet.size === 0 || hostSet.has(hostname) || hostSet.has(agentId);

  // Labels are AND-ed like a Kubernetes selector: "env=prod,tier!=db" reads naturally that way.
  const matchesRest = (id: string, name: string, labels: Record<string, string>): boolean =>
    (ids.length === 0 || ids.some((p) => id.toLowerCase().startsWith(p)))
    && (nameMatchers.length === 0 || nameMatchers.some((m) => m(name)))
    && selectors.every((sel) => matchLabels(sel, labels));

  const matchesContainer = (c: FilterableContainer): boolean =>
    matchesHost(c.host, c.agentId) && matchesRest(c.id, c.name, c.labels);

  // Events carry the container's labels among their attributes (Docker's Actor.Attributes).
  const matchesEvent = (e: ContainerEvent, kept: Set<string>): boolean =>
    kept.has(e.containerId) || matchesRest(e.containerId, e.containerName, e.attributes);

  const filterBatch = (batch: MetricBatch): MetricBatch | null => {
    if (!matchesHost(batch.hostname, batch.agentId)) return null;
    const containers = batch.containers.filter((c) =>
      matchesRest(c.id, c.name, c.labels));
    const kept = new Set(containers.map((c) => c.id));
    const events = batch.events.filter((e) => matchesEvent(e, kept));
    const host = includeHost ? batch.host : null;
    if (containers.length === 0 && events.length === 0 && host === null) return null;
    // `complete` keeps its meaning for the subscriber: every container of the host that
    // matches this filter is listed, so a client may drop the ones it no longer sees.
    return { ...batch, host, containers, events };
  };

  return { includeHost, matchesHost, matchesContainer, filterBatch };
}
