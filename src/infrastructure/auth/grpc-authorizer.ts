// Adapts the auth service to the gRPC server's `authorize(metadata, rpc)` hook without
// importing any gRPC package: metadata only needs get(key).
import { AppError } from '../../application/errors.js';
import { bearerToken, type Auth } from './auth-service.js';
import type { RequiredRole } from '../../application/auth-ports.js';

export interface MetadataLike { get(key: string): (string | Buffer)[] }

/** StreamMetrics is for agents; SubscribeToMetrics for viewers and admins; anything else is refused. */
export function requiredRoleForRpc(rpc: string): RequiredRole | null {
  const name = rpc.slice(rpc.lastIndexOf('/') + 1);
  if (name === 'StreamMetrics') return 'agent';
  if (name === 'SubscribeToMetrics') return 'viewer';
  return null;
}

export function grpcAuthorizer(auth: Auth): (metadata: MetadataLike, rpc: string) => Promise<void> {
  return async (metadata, rpc) => {
    const required = requiredRoleForRpc(rpc);
    if (required === null) throw new AppError('PERMISSION_DENIED', `no role may call ${rpc}`);
    const raw = metadata.get('authorization')[0];
    const header = typeof raw === 'string' ? raw : raw?.toString('utf8');
    auth.authorize(bearerToken(header), required);
  };
}
