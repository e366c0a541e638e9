// Small, strict parsers for environment settings. Every problem names the variable and
// what was wrong; all problems are collected so the user sees them at once.
import { parseDuration } from '../domain/duration.js';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Collects problems while settings are read; `done()` throws them all. */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(readonly env: Env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  private fail<T>(name: string, value: string, expected: string, fallback: T): T {
    this.problems.push(`${name}=${JSON.stringify(value)}: expected ${expected}`);
    return fallback;
  }

  string(name: string, def: string): string;
  string(name: string): string | undefined;
  string(name: string, def?: string): string | undefined {
    return this.raw(name) ?? def;
  }

  /** A secret: never echoed in error messages. */
  secret(name: string): string | undefined {
    return this.env[name] === undefined || this.env[name] === '' ? undefined : this.env[name];
  }

  int(name: string, def: number, min = -Infinity, max = Infinity): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (!/^-?\d+$/.test(v)) return this.fail(name, v, 'a whole number', def);
    const n = Number(v);
    if (n < min || n > max) return this.fail(name, v, `a number from ${min} to ${max}`, def);
    return n;
  }

  number(name: string, def: number, min = -Infinity, max = Infinity): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) return this.fail(name, v, `a number from ${min} to ${max}`, def);
    return n;
  }

  port(name: string, def: number): number {
    return this.int(name, def, 1, 65535);
  }

  optionalPort(name: string): number | undefined {
    return this.raw(name) === undefined ? undefined : this.port(name, 0);
  }

  /** Durations like 500ms, 2s, 5m, 24h. `minMs` guards settings that would melt the machine. */
  duration(name: string, def: string, minMs?: number): number;
  duration(name: string, def: undefined, minMs?: number): number | undefined;
  duration(name: string, def: string | undefined, minMs = 0): number | undefined {
    const v = this.raw(name) ?? def;
    if (v === undefined || v === 'off') return undefined;
    const ms = parseDuration(v);
    if (ms === null) return this.fail(name, v, 'a duration such as 500ms, 2s, 5m or 24h', undefined);
    if (ms < minMs) return this.fail(name, v, `a duration of at least ${minMs} ms`, undefined);
    return ms;
  }

  bool(name: string, def: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    return this.fail(name, v, 'true or false', def);
  }

  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.raw(name);
    if (v === undefined) return def;
    return (allowed as readonly string[]).includes(v) ? (v as T) : this.fail(name, v, `one of ${allowed.join(', ')}`, def);
  }

  url(name: string, protocols: string[] = ['http:', 'https:']): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) return this.fail(name, redactUrl(v), `a URL starting with ${protocols.join(' or ')}`, undefined);
      return v;
    } catch {
      return this.fail(name, redactUrl(v), 'a valid URL', undefined);
    }
  }

  /** host:port, e.g. SERVER_ADDR=127.0.0.1:50051 or dockwatch:50051 or [::1]:50051 */
  hostPort(name: string, def: string): string {
    const v = this.raw(name) ?? def;
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return this.fail(name, v, 'host:port with a port from 1 to 65535', def);
    return v;
  }

  /** One host:port or several, comma-separated (SERVER_ADDR=a:50051,b:50051); a bad entry is named. */
  hostPortList(name: string, def: string): string {
    const v = this.raw(name) ?? def;
    const entries = v.split(',').map((s) => s.trim());
    if (entries.length === 1) return this.hostPort(name, def);
    const bad = entries.find((e) => {
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(e);
      return !m || Number(m[2]) < 1 || Number(m[2]) > 65535;
    });
    if (bad !== undefined) return this.fail(name, v, `a comma list of host:port with ports from 1 to 65535; "${bad}" is not`, def);
    return entries.join(',');
  }

  list(name: string): string[] {
    const v = this.raw(name);
    return v === undefined ? [] : v.split(',').map((s) => s.trim()).filter(Boolean);
  }

  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

/** Hide credentials in a URL before it is printed anywhere. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/([^/@:]*):([^/@]*)@/, '//$1:***@').replace(/([?&](token|password|key)=)[^&]*/gi, '$1***');
}
