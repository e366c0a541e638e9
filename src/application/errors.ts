// One list of error codes for the whole program. Each edge (HTTP, gRPC, CLI) maps
// these codes once; nothing else inspects error messages.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'CONFLICT'
  | 'INTERNAL';

export class AppError extends Error {
  readonly code: ErrorCode;
  /** The input field or setting at fault, when there is one. */
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { field?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.field = opts.field;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** Transient failures are worth another try; bad input never is. */
  canRetry(): boolean {
    return this.code === 'UNAVAILABLE' || this.code === 'RESOURCE_EXHAUSTED';
  }
}

export const invalidArgument = (field: string, reason: string): AppError =>
  new AppError('INVALID_ARGUMENT', `${field}: ${reason}`, { field });

export const notFound = (what: string): AppError => new AppError('NOT_FOUND', `${what} not found`);

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;
