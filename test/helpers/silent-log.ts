import type { Logger } from '../../src/application/ports.js';

/** A logger that keeps lines in memory, for assertions and quiet tests. */
export function memoryLog(lines: { level: string; obj: unknown; msg?: string }[] = []): Logger & { lines: typeof lines } {
  const mk = (): Logger & { lines: typeof lines } => ({
    lines,
    debug: (obj, msg) => { lines.push({ level: 'debug', obj, msg }); },
    info: (obj, msg) => { lines.push({ level: 'info', obj, msg }); },
    warn: (obj, msg) => { lines.push({ level: 'warn', obj, msg }); },
    error: (obj, msg) => { lines.push({ level: 'error', obj, msg }); },
    child: () => mk(),
  });
  return mk();
}
