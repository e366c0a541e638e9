// scrypt password hashes. The parameters travel with each hash, so they can be raised
// later without breaking existing users. Comparison is constant time.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (pw: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(pw, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));

export interface ScryptParams { N: number; r: number; p: number; keylen: number }

/** 2^15 x 8 x 1 is OWASP's scrypt baseline: about 32 MiB and tens of ms per check. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 32768, r: 8, p: 1, keylen: 32 };

const maxmem = (p: ScryptParams): number => 128 * p.N * p.r * 2 + 1024 * 1024;

/** Returns `scrypt$N$r$p$<salt b64>$<hash b64>`. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: maxmem(params) });
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface Parsed { params: ScryptParams; salt: Buffer; key: Buffer }

export function parseHash(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return null;
  // Refuse absurd parameters from a tampered file rather than burn a core for minutes.
  if (N > 2 ** 20 || r > 32 || p > 16) return null;
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) return null;
  return { params: { N, r, p, keylen: key.length }, salt, key };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const { params, salt, key } = parsed;
  const got = await scrypt(password, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: maxmem(params) });
  return timingSafeEqual(got, key);
}

/** Constant-time equality of two secrets of any length (hashing first evens out the lengths). */
export function safeEqual(a: string, b: string): boolean {
  const ka = Buffer.from(a, 'utf8');
  const kb = Buffer.from(b, 'utf8');
  const len = Math.max(ka.length, kb.length, 1);
  const pa = Buffer.alloc(len);
  const pb = Buffer.alloc(len);
  ka.copy(pa);
  kb.copy(pb);
  // The length check comes after the full-length comparison so timing does not reveal which failed.
  return timingSafeEqual(pa, pb) && ka.length === kb.length;
}

/** A random password that is easy to copy: 24 chars of base64url (144 bits). */
export const generatePassword = (): string => randomBytes(18).toString('base64url');
