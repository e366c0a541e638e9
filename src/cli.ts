#!/usr/bin/env node
// The `dockwatch` command: agent, server, all (both in one process: `npm start`), user, top.
// Settings are validated before anything binds a port: a bad one exits with code 2.
// First, before anything else loads: V8 settings of `dockwatch agent` (AGENT_LOW_MEMORY).
import './agent/low-memory.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError } from './config/env.js';
import { loadAgentConfig, loadServerConfig, type AgentConfig, type ServerConfig } from './config/config.js';
import { isAppError } from './application/errors.js';
import { createLogger } from './infrastructure/shared/logging.js';
// The composition roots are loaded per subcommand: `dockwatch agent` must not load the server's
// packages (fastify, ioredis, SQLite, nodemailer...). test/integration/cli-agent-modules.test.ts checks it.
import type { AgentHandle } from './agent/main.js';
import type { ServerHandle } from './server/main.js';

export const EXIT = { ok: 0, failure: 1, badConfig: 2 } as const;

const USAGE = `usage: dockwatch <command>

  all      server and agent in one process, embedded defaults (what npm start runs)
  server   the server: gRPC ingest, HTTP API, dashboard, storage, alerts
  agent    the agent: collects this host's container and host metrics, streams them to SERVER_ADDR
  user     manage dashboard users (dockwatch user add <name> --role viewer|admin)
  top      terminal UI over SubscribeToMetrics (dockwatch top --help)
  version  print the version

Settings come from the environment; see README.md.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'agent':
    case 'server':
    case 'all':
      return runDaemon(command);
    case 'user': {
      const { runUserCommand } = await import('./infrastructure/auth/cli-user.js');
      return runUserCommand(rest, process.env);
    }
    case 'top':
      return runTopCommand(rest);
    case 'version':
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return EXIT.ok;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? EXIT.badConfig : EXIT.ok;
    default:
      process.stderr.write(`dockwatch: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return EXIT.badConfig;
  }
}

async function runDaemon(mode: 'agent' | 'server' | 'all'): Promise<number> {
  let agentCfg: AgentConfig | undefined;
  let serverCfg: ServerConfig | undefined;
  try {
    if (mode !== 'agent') serverCfg = loadServerConfig(process.env, mode);
    if (mode !== 'server') agentCfg = loadAgentConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`dockwatch ${mode}: ${err.message}\n`);
      return EXIT.badConfig;
    }
    throw err;
  }
  const log = createLogger((serverCfg ?? agentCfg)!.logLevel, `dockwatch-${mode}`);

  let server: ServerHandle | undefined;
  let agent: AgentHandle | undefined;
  try {
    if (serverCfg) {
      // The in-process agent of `all` needs a credential; one made up per start is enough.
      if (mode === 'all' && !serverCfg.auth.agentToken) serverCfg.auth.agentToken = randomBytes(24).toString('base64url');
      const { startServer } = await import('./server/main.js');
      server = await startServer(serverCfg, log);
    }
    if (agentCfg) {
      if (server && serverCfg) {
        const grpcHost = serverCfg.grpcHost === '0.0.0.0' || serverCfg.grpcHost === '::' ? '127.0.0.1' : serverCfg.grpcHost;
        agentCfg = { ...agentCfg, serverAddr: `${grpcHost.includes(':') ? `[${grpcHost}]` : grpcHost}:${server.grpcPort}`, agentToken: serverCfg.auth.agentToken };
      }
      const { startAgent } = await import('./agent/main.js');
      // Its own logger, not a child: a child's binding would repeat the "program" key (pino does not merge).
      agent = await startAgent(agentCfg, mode === 'all' ? createLogger(agentCfg.logLevel, 'dockwatch-agent') : log);
    }
  } catch (err) {
    await agent?.stop().catch(() => undefined);
    await server?.close().catch(() => undefined);
    if (isAppError(err) && err.code === 'INVALID_ARGUMENT') {
      // Start-up validation that needs I/O (rule files, key files) is a configuration error too.
      process.stderr.write(`dockwatch ${mode}: invalid configuration:\n  ${err.message}\n`);
      return EXIT.badConfig;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      process.stderr.write(`dockwatch ${mode}: cannot listen: ${e.message}\n`);
      return EXIT.failure;
    }
    log.fatal({ err }, 'start-up failed');
    return EXIT.failure;
  }

  if (server && serverCfg) printWelcome(serverCfg, server, mode);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      // Agent first, so its last batches reach the server before the server closes.
      const hardStop = setTimeout(() => { log.error('shutdown took too long; exiting'); resolve(EXIT.failure); }, 30_000);
      hardStop.unref();
      (async () => {
        await agent?.stop();
        await server?.close();
      })().then(() => resolve(EXIT.ok), (err) => { log.error({ err }, 'shutdown failed'); resolve(EXIT.failure); })
        .finally(() => clearTimeout(hardStop));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function printWelcome(cfg: ServerConfig, server: ServerHandle, mode: string): void {
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? 'localhost' : cfg.host;
  const base = `http://${host}:${server.httpPort}`;
  const lines = [
    '',
    `Dockwatch ${mode === 'all' ? '(server + agent)' : 'server'} is running`,
    `  dashboard      ${base}/`,
    `  history        ${base}/dashboard.html`,
    `  API            ${base}/api/containers`,
    `  health         ${base}/health`,
    `  metrics        ${base}/metrics${server.metricsPort ? `  and  http://${host}:${server.metricsPort}/metrics` : ''}`,
    `  gRPC           ${cfg.grpcHost === '0.0.0.0' ? 'localhost' : cfg.grpcHost}:${server.grpcPort}`,
    `  data           ${cfg.dataDir} (${cfg.storage.influxUrl ? 'InfluxDB' : 'embedded SQLite'})`,
  ];
  if (server.generatedAdminPassword) {
    lines.push(
      '',
      '  ********************************************************************',
      `  First run: an admin account was created.`,
      `    user:     ${server.adminUser}`,
      `    password: ${server.generatedAdminPassword}`,
      '  It is shown this once only; only its hash is stored. Set ADMIN_PASSWORD',
      '  or run `dockwatch user add` to manage accounts.',
      '  ********************************************************************',
    );
  }
  // Straight to the terminal, not through the logger: the password must not land in log files.
  process.stderr.write(`${lines.join('\n')}\n\n`);
}

async function runTopCommand(argv: string[]): Promise<number> {
  const { parseTopArgs, TOP_USAGE } = await import('./infrastructure/tui/args.js');
  let args;
  try {
    args = parseTopArgs(argv, process.env);
  } catch (err) {
    process.stderr.write(`dockwatch top: ${(err as Error).message}\n\n${TOP_USAGE}`);
    return EXIT.badConfig;
  }
  if (args === 'help') {
    process.stdout.write(TOP_USAGE);
    return EXIT.ok;
  }
  // Ink renders only a final frame when it believes it runs in CI (it reads CI at import time);
  // in a real terminal `top` is interactive whatever CI says.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  const { runTop } = await import('./infrastructure/tui/top.js');
  const { createMetricsSubscriber } = await import('./infrastructure/grpc/subscribe-client.js');
  const client = createMetricsSubscriber({ address: args.server, token: args.token });
  try {
    return await runTop({ server: args.server, token: args.token, subscribe: client.subscribe, filter: args.filter });
  } finally {
    client.close();
  }
}

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  const file = require.resolve('../package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; setTimeout(() => process.exit(code), 200).unref(); },
  (err) => { process.stderr.write(`dockwatch: ${(err as Error)?.stack ?? String(err)}\n`); process.exit(EXIT.failure); },
);
