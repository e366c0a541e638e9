// JWT signing and verification. The accepted algorithm is pinned on verify, so a token
// with `alg: none`, or HS256 signed with an RSA public key, is refused.
import jwt from 'jsonwebtoken';
import { AppError } from '../../application/errors.js';
import { isRole, type Principal, type Role } from '../../application/auth-ports.js';

export type TokenKeys =
  | { algorithm: 'HS256'; secret: string }
  | { algorithm: 'RS256'; privateKey?: string; publicKey: string };

export interface TokenService {
  readonly algorithm: 'HS256' | 'RS256';
  sign(sub: string, role: Role, opts?: { durationMs?: number }): { token: string; expiresAtMs: number };
  /** Throws AppError UNAUTHENTICATED with the reason ('token expired', 'invalid signature', ...). */
  verify(token: string): Principal;
}

const ISSUER = 'dockwatch';

export function createTokenService(keys: TokenKeys, defaultDurationMs: number): TokenService {
  const signKey = keys.algorithm === 'HS256' ? keys.secret : keys.privateKey;
  const verifyKey = keys.algorithm === 'HS256' ? keys.secret : keys.publicKey;
  return {
    algorithm: keys.algorithm,
    sign(sub, role, opts = {}) {
      if (!signKey) throw new AppError('INTERNAL', 'no private key to sign tokens with (JWT_PRIVATE_KEY_FILE)');
      const durationMs = opts.durationMs ?? defaultDurationMs;
      const nowS = Math.floor(Date.now() / 1000);
      const expS = nowS + Math.max(1, Math.round(durationMs / 1000));
      const token = jwt.sign({ role, iat: nowS, exp: expS }, signKey, {
        algorithm: keys.algorithm, subject: sub, issuer: ISSUER,
      });
      return { token, expiresAtMs: expS * 1000 };
    },
    verify(token) {
      let claims: jwt.JwtPayload | string;
      try {
        claims = jwt.verify(token, verifyKey, { algorithms: [keys.algorithm], issuer: ISSUER });
      } catch (e) {
        throw new AppError('UNAUTHENTICATED', reasonOf(e));
      }
      if (typeof claims === 'string' || typeof claims.sub !== 'string' || !isRole(claims.role)) {
        throw new AppError('UNAUTHENTICATED', 'token has no valid subject or role');
      }
      return { sub: claims.sub, role: claims.role, via: 'jwt', expiresAtMs: (claims.exp ?? 0) * 1000 };
    },
  };
}

// jsonwebtoken's messages name the failure without echoing the token, so they are safe to return.
function reasonOf(e: unknown): string {
  if (e instanceof jwt.TokenExpiredError) return 'token expired';
  if (e instanceof jwt.NotBeforeError) return 'token not yet valid';
  if (e instanceof jwt.JsonWebTokenError) return `invalid token: ${e.message}`;
  return 'invalid token';
}
