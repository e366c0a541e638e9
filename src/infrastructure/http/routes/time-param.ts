// The `from`/`to` query parameters of the alert and audit routes: epoch ms or an ISO date.
import { AppError } from '../../../application/errors.js';

export const timeParam = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', maxLength: 40 }] } as const;

export function parseTime(v: unknown, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'number') return v;
  const s = String(v);
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(n)) throw new AppError('INVALID_ARGUMENT', `${field}: expected epoch milliseconds or an ISO date`, { field });
  return n;
}
