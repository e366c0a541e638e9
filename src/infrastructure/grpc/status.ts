// The one place where application errors become gRPC statuses (and back, for the client).
// INTERNAL and unknown errors never leak their message to the peer.
import { status as Status, Metadata, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { AppError, isAppError, type ErrorCode } from '../../application/errors.js';

const TO_GRPC: Record<ErrorCode, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: Status.UNAVAILABLE,
  CONFLICT: Status.ALREADY_EXISTS,
  INTERNAL: Status.INTERNAL,
};

export type GrpcStatus = Pick<StatusObject, 'code' | 'details' | 'metadata'>;

/** Maps any thrown value to the status the peer sees. */
export function toGrpcStatus(err: unknown): GrpcStatus {
  const metadata = new Metadata();
  if (isAppError(err)) {
    if (err.field) metadata.set('dockwatch-field', err.field);
    if (err.retryAfterMs !== undefined) metadata.set('retry-after-ms', String(err.retryAfterMs));
    const details = err.code === 'INTERNAL' ? 'internal error' : err.message;
    return { code: TO_GRPC[err.code], details, metadata };
  }
  return { code: Status.INTERNAL, details: 'internal error', metadata };
}

const FROM_GRPC = new Map<number, ErrorCode>(
  (Object.entries(TO_GRPC) as [ErrorCode, Status][]).map(([k, v]) => [v, k]),
);

/** A client-side ServiceError as an AppError (unknown codes count as UNAVAILABLE: worth a retry). */
export function fromGrpcError(err: Partial<ServiceError>): AppError {
  const code = (err.code !== undefined && FROM_GRPC.get(err.code)) || 'UNAVAILABLE';
  const field = err.metadata?.get('dockwatch-field')[0];
  return new AppError(code, err.details || err.message || 'gRPC error', {
    ...(typeof field === 'string' ? { field } : {}),
    cause: err,
  });
}
