// `dockwatch top` for tests run in tmux: the same runTop and argument parsing the CLI uses,
// with the product's SubscribeToMetrics client (the one `dockwatch top` uses). Like src/cli.ts, it clears CI before Ink loads:
// Ink renders only a final frame when it believes it runs in CI.
if (process.stdout.isTTY) {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
}
const { parseTopArgs, TOP_USAGE } = await import('../../src/infrastructure/tui/args.js');
const { runTop } = await import('../../src/infrastructure/tui/top.js');
const { createMetricsSubscriber } = await import('../../src/infrastructure/grpc/subscribe-client.js');

const parsed = parseTopArgs(process.argv.slice(2), process.env);
if (parsed === 'help') {
  process.stdout.write(TOP_USAGE);
  process.exit(0);
}
const code = await runTop({
  server: parsed.server, token: parsed.token, filter: parsed.filter,
  subscribe: createMetricsSubscriber({ address: parsed.server, token: parsed.token }).subscribe,
});
process.exit(code);
