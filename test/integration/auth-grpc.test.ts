// Both RPCs on the real gRPC server with the real authorizer, called by a real grpc-js client:
// no token, forged, alg none, expired -> UNAUTHENTICATED; wrong role -> PERMISSION_DENIED;
// the right credential gets through (an ack, a live sample).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createAuth } from '../../src/infrastructure/auth/auth-service.js';
import { grpcAuthorizer } from '../../src/infrastructure/auth/grpc-authorizer.js';
import { metricDataToWire } from '../../src/infrastructure/grpc/mapping.js';
import { batch, waitFor } from '../helpers/grpc-fixtures.js';
import { collect, rawClient, startServer, type Harness } from '../helpers/grpc-server.js';
import { makeTestTokens } from '../helpers/route-protection.js';

const SECRET = 'grpc-auth-secret-'.padEnd(48, 'g');
const AGENT_TOKEN = 'shared-agent-token-for-grpc';
const servers: Harness[] = [];
after(async () => { for (const s of servers) await s.server.close(1000); });

async function harness(): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dockwatch-authgrpc-'));
  const { auth } = await createAuth({
    jwtSecret: SECRET, jwtDurationMs: 60_000, adminUser: 'admin', adminPassword: 'admin-password',
    usersFile: join(dataDir, 'users.json'), dataDir, production: false, agentToken: AGENT_TOKEN,
  });
  const h = await startServer({ authorize: grpcAuthorizer(auth) });
  servers.push(h);
  return h;
}

const md = (token: string | undefined) => {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set('authorization', `Bearer ${token}`);
  return m;
};

/** Tokens every RPC refuses as UNAUTHENTICATED, whatever role it wants. */
const invalidTokenCases = (t: ReturnType<typeof makeTestTokens>): [string, string | undefined, number][] => [
    ['no token', undefined, grpc.status.UNAUTHENTICATED],
    ['forged', t.forged, grpc.status.UNAUTHENTICATED],
    ['alg none', t.unsigned, grpc.status.UNAUTHENTICATED],
    ['expired', t.expired, grpc.status.UNAUTHENTICATED],
];

test('StreamMetrics: agent credentials only', async () => {
  const h = await harness();
  const client = rawClient(h.address);
  const t = makeTestTokens(SECRET);
  const cases: [string, string | undefined, number][] = [
    ...invalidTokenCases(t),
    ['wrong static token', `${AGENT_TOKEN}x`, grpc.status.UNAUTHENTICATED],
    ['viewer', t.viewer, grpc.status.PERMISSION_DENIED],
    ['admin', t.admin, grpc.status.PERMISSION_DENIED],
  ];
  let seq = 0;
  for (const [what, token, want] of cases) {
    const call = client.StreamMetrics(md(token));
    const res = collect(call);
    call.write(metricDataToWire(batch('auth-agent', ++seq)));
    const st = await res.status;
    assert.equal(st.code, want, `${what}: ${st.details}`);
    assert.equal(res.items.length, 0, `${what}: no ack`);
  }
  assert.equal(h.written.length, 0, 'nothing refused was written');
  for (const token of [AGENT_TOKEN, t.agent]) {
    const call = client.StreamMetrics(md(token));
    const res = collect(call);
    call.write(metricDataToWire(batch('auth-agent', ++seq)));
    await waitFor(() => res.items.length === 1);
    assert.equal(res.items[0].status, 'ACK');
    call.end();
    assert.equal((await res.status).code, grpc.status.OK);
  }
  client.close();
});

test('SubscribeToMetrics: viewers and admins only', async () => {
  const h = await harness();
  const client = rawClient(h.address);
  const t = makeTestTokens(SECRET);
  const cases: [string, string | undefined, number][] = [
    ...invalidTokenCases(t),
    ['agent token', AGENT_TOKEN, grpc.status.PERMISSION_DENIED],
    ['agent jwt', t.agent, grpc.status.PERMISSION_DENIED],
  ];
  for (const [what, token, want] of cases) {
    const res = collect(client.SubscribeToMetrics({}, md(token)));
    const st = await res.status;
    assert.equal(st.code, want, `${what}: ${st.details}`);
  }
  for (const token of [t.viewer, t.admin]) {
    const call = client.SubscribeToMetrics({}, md(token));
    const res = collect(call);
    // Publish until the subscription is in place and a sample arrives.
    let seq = 0;
    await waitFor(() => { h.bus.publish(batch('live-agent', ++seq)); return res.items.length > 0; });
    call.cancel();
  }
  client.close();
});
