// `dockwatch top` for tests run in tmux: the same runTop and argument parsing the CLI uses,
// with the test's SubscribeToMetrics client.
import { parseTopArgs, TOP_USAGE } from '../../src/infrastructure/tui/args.js';
import { runTop } from '../../src/infrastructure/tui/top.js';
import { testGrpcSubscribe } from './top-grpc.js';

const parsed = parseTopArgs(process.argv.slice(2), process.env);
if (parsed === 'help') {
  process.stdout.write(TOP_USAGE);
  process.exit(0);
}
const code = await runTop({
  server: parsed.server, token: parsed.token, filter: parsed.filter,
  subscribe: testGrpcSubscribe(parsed.server, parsed.token),
});
process.exit(code);
