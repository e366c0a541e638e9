// Prometheus label naming for Docker labels, the way cAdvisor does it: every Docker label
// becomes `container_label_<sanitized key>`. Pure functions, table-tested.
import { invalidArgument } from '../../application/errors.js';

/** Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__" are reserved. */
const VALID_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidLabelName(name: string): boolean {
  return VALID_LABEL_NAME.test(name) && !name.startsWith('__');
}

/**
 * Maps any string onto a valid label name fragment: every character outside [a-zA-Z0-9_]
 * becomes "_" (so "com.docker.compose.project" -> "com_docker_compose_project"), and a
 * leading digit gets a "_" in front. An empty key becomes "_".
 */
export function sanitizeLabelName(key: string): string {
  let s = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (s === '') s = '_';
  if (/^[0-9]/.test(s)) s = `_${s}`;
  return s;
}

/**
 * Docker labels as Prometheus labels under `prefix`. Keys are taken in sorted order so that
 * when two keys sanitize to the same name ("a.b" and "a_b") the result is stable: the first
 * in sort order wins. Names that clash with `reserved` (id, name, image, host) or that are
 * still invalid (a prefix of "" with a key like "__x") are left out rather than emitted broken.
 */
export function dockerLabelsToPromLabels(
  labels: Record<string, string>,
  prefix: string,
  reserved: ReadonlySet<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels).sort()) {
    const name = prefix === '' ? sanitizeLabelName(key) : `${prefix}${sanitizeLabelName(key)}`;
    if (!isValidLabelName(name) || reserved.has(name) || name in out) continue;
    out[name] = labels[key] ?? '';
  }
  return out;
}

/** Checks and normalizes the configured prefix: it must itself start a valid label name. */
export function checkLabelPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(prefix) || prefix.startsWith('__')) {
    throw invalidArgument('labelPrefix', `${JSON.stringify(prefix)} does not start a valid Prometheus label name`);
  }
  return prefix;
}
