// The real `dockwatch server` process for the browser tests of the dense dashboard: fed by the
// synthetic fleet over real gRPC (bench/dashboard-agents.ts) and, when asked, by the real
// `dockwatch agent` process watching real containers on the test Docker engine. Chromium
// launched with the project's flags (never a downloaded browser).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addUser } from '../../src/infrastructure/auth/users-file.js';
import { startFleet, type Fleet } from '../../bench/dashboard-agents.js';
import { dockerCli, freePort, runCli, tempDir, type RunningCli } from './cli-process.js';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const ADMIN_PW = 'fleet-admin-pw';
export const VIEWER_PW = 'fleet-viewer-pw';
const AGENT_TOKEN = 'fleet-agent-token-0123456789abcdef';

export interface FleetApp {
  url: string;
  grpc: string;
  fleet: Fleet | null;
  server: RunningCli;
  agent: RunningCli | null;
  browser: Browser;
  docker: (...args: string[]) => Promise<string>;
  token(user?: 'admin' | 'vera'): Promise<string>;
  get<T>(path: string, user?: 'admin' | 'vera'): Promise<T>;
  close(): Promise<void>;
}

export interface FleetAppOptions {
  tag: string;
  hosts?: number;
  perHost?: number;
  /** Start the real agent against this Docker engine. */
  dockerHost?: string;
  chromium: string;
  env?: Record<string, string>;
}

export async function startFleetApp(o: FleetAppOptions): Promise<FleetApp> {
  await mkdir('.test-artifacts', { recursive: true });
  const dataDir = tempDir('dw-fleet-');
  await addUser(join(dataDir, 'users.json'), 'vera', 'viewer', VIEWER_PW);
  const port = await freePort();
  const grpcPort = await freePort();
  const server = runCli(['server'], {
    HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPort), DATA_DIR: dataDir, AGENT_TOKEN,
    JWT_SECRET: 'fleet-test-secret-0123456789-0123456789', ADMIN_PASSWORD: ADMIN_PW, ALERT_COOLDOWN: '0s',
    // Each test logs in through the form several times (the limit itself is tested elsewhere).
    LOGIN_RATE_LIMIT: '1000',
    ...(o.env ?? {}),
  });
  await server.waitFor(/"msg":"server started"/);
  const grpc = `127.0.0.1:${grpcPort}`;
  const fleet = o.perHost === 0 ? null : await startFleet({ address: grpc, token: AGENT_TOKEN, tag: o.tag, hosts: o.hosts ?? 5, perHost: o.perHost ?? 100 });
  let agent: RunningCli | null = null;
  if (o.dockerHost) {
    agent = runCli(['agent'], {
      DOCKER_HOST: o.dockerHost, SERVER_ADDR: grpc, AGENT_TOKEN, COLLECT_INTERVAL: '1s', AGENT_ID: `${o.tag}-real-agent`, HOST_NAME: `${o.tag}-real-host`,
    });
    await agent.waitFor(/"msg":"metrics stream connected"/);
  }
  const browser = await chromium.launch({ executablePath: o.chromium, args: CHROMIUM_ARGS });
  const url = `http://127.0.0.1:${port}`;
  const tokens = new Map<string, string>();
  const token = async (user: 'admin' | 'vera' = 'admin'): Promise<string> => {
    if (!tokens.has(user)) {
      const r = await fetch(`${url}/api/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user, password: user === 'admin' ? ADMIN_PW : VIEWER_PW }),
      });
      tokens.set(user, ((await r.json()) as { token: string }).token);
    }
    return tokens.get(user)!;
  };
  return {
    url, grpc, fleet, server, agent, browser,
    docker: dockerCli(o.dockerHost ?? ''),
    token,
    async get<T>(path: string, user: 'admin' | 'vera' = 'admin') {
      const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${await token(user)}` } });
      if (!r.ok) throw new Error(`${path}: ${r.status}`);
      return (await r.json()) as T;
    },
    async close() {
      await browser.close().catch(() => undefined);
      await fleet?.stop();
      await agent?.stop('SIGKILL');
      await server.stop('SIGKILL');
    },
  };
}

/** Logs in through the form of the page it is on (the login view of /). */
export async function loginForm(page: Page, user: 'admin' | 'vera' = 'admin'): Promise<void> {
  await page.waitForSelector('#login-form');
  await page.fill('#username', user);
  await page.fill('#password', user === 'admin' ? ADMIN_PW : VIEWER_PW);
  await page.click('#login-submit');
}

/** Page errors and failed requests, to assert none happened. */
export function watchProblems(page: Page, allow: RegExp[] = []): string[] {
  const problems: string[] = [];
  const ok = (s: string) => allow.some((r) => r.test(s));
  page.on('pageerror', (e) => { if (!ok(e.message)) problems.push(e.message); });
  page.on('console', (m) => { if (m.type() === 'error' && !ok(m.text())) problems.push(m.text()); });
  page.on('response', (r) => { const s = `${r.status()} ${new URL(r.url()).pathname}`; if (r.status() >= 400 && !ok(s)) problems.push(s); });
  return problems;
}

/** Screenshots of the page in both themes at desktop and phone widths; asserts no sideways scroll on the phone. */
export async function shootBothThemes(page: Page, name: string, check: (msg: string, ok: boolean) => void): Promise<void> {
  for (const theme of ['dark', 'light'] as const) {
    await page.emulateMedia({ colorScheme: theme });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await page.waitForTimeout(300);
      const got = await page.evaluate(() => ({ theme: document.documentElement.dataset.theme, sw: document.documentElement.scrollWidth, iw: innerWidth }));
      check(`${name}: theme ${got.theme} follows prefers-color-scheme ${theme}`, got.theme === theme);
      if (width === 390) check(`${name} @390 ${theme}: no sideways scroll (scrollWidth ${got.sw} > ${got.iw})`, got.sw <= got.iw);
      await page.screenshot({ path: `.test-artifacts/${name}-${theme}-${width}.png` });
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}
