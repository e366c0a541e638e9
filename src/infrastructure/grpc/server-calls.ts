// Pieces the gRPC server's two RPC handlers share: bytes that did not decode, and ending a call
// with the status an error maps to.
import type * as grpc from '@grpc/grpc-js';
import { toGrpcStatus } from './status.js';

/** Marks bytes that did not decode, so the handler can answer INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
export interface DecodeFailure { readonly decodeError: string }
export const isDecodeFailure = (v: unknown): v is DecodeFailure =>
  typeof v === 'object' && v !== null && 'decodeError' in v;

export function decodeOrFailure(decode: (buf: Buffer) => unknown, buf: Buffer): unknown {
  try {
    return decode(buf);
  } catch (err) {
    return { decodeError: (err as Error).message } satisfies DecodeFailure;
  }
}

/** Ends a call with the status an error maps to (the single edge mapping lives in status.ts). */
export function endWithError(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  err: unknown): void {
  const st = toGrpcStatus(err);
  call.emit('error', { code: st.code, details: st.details, metadata: st.metadata });
}
