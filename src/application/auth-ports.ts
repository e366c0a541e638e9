// Authentication port: roles, principals and the one service every edge (HTTP, WebSocket,
// gRPC) asks. src/infrastructure/auth implements it; the HTTP and gRPC adapters only see this.

export const ROLES = ['admin', 'viewer', 'agent'] as const;
export type Role = (typeof ROLES)[number];

/** What a route or RPC may require; 'public' needs no credential at all. */
export type RequiredRole = Role | 'public';

export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);

/** admin can do everything a viewer can; the agent role only feeds metrics in and never reads. */
export function roleSatisfies(actual: Role, required: RequiredRole): boolean {
  if (required === 'public') return true;
  if (required === 'viewer') return actual === 'viewer' || actual === 'admin';
  return actual === required;
}

/** Who made a request, once authenticated. */
export interface Principal {
  sub: string;
  role: Role;
  /** How the caller proved it: a signed JWT or the static agent token. */
  via: 'jwt' | 'agent-token';
  /** Expiry in ms since the epoch, for JWTs. */
  expiresAtMs?: number;
}

export interface LoginResult { token: string; expiresAtMs: number; role: Role; username: string }

export interface Auth {
  /** Throws UNAUTHENTICATED 'invalid username or password' without saying which part was wrong. */
  login(username: string, password: string): Promise<LoginResult>;
  /** Who holds this credential (a JWT or the static AGENT_TOKEN); throws UNAUTHENTICATED. */
  authenticate(token: string | undefined): Principal;
  /** authenticate + role check; throws UNAUTHENTICATED or PERMISSION_DENIED. */
  authorize(token: string | undefined, required: RequiredRole): Principal;
  /** true when METRICS_TOKEN is set and this bearer matches it (constant time). */
  isMetricsToken(token: string | undefined): boolean;
  readonly metricsTokenSet: boolean;
  /** Mints a token, e.g. for the embedded agent of `dockwatch all`. */
  issueToken(sub: string, role: Role, opts?: { durationMs?: number }): { token: string; expiresAtMs: number };
}
