// Flags and environment of `dockwatch top`. Flags win over the environment.
import type { SubscriptionFilterInput } from '../../application/subscription-filter.js';

export const DEFAULT_TOP_SERVER = '127.0.0.1:50051';

export const TOP_USAGE = `usage: dockwatch top [--server host:port] [--token TOKEN] [--host H]... [--name GLOB]... [--label SELECTOR]...

  --server  gRPC address of the Dockwatch server (env DOCKWATCH_SERVER, then SERVER_ADDR; default ${DEFAULT_TOP_SERVER})
  --token   bearer token: a viewer JWT or AGENT_TOKEN (env DOCKWATCH_TOKEN)
  --host, --name, --label, --id   narrow the subscription (repeatable; same rules as SubscribeToMetrics)

keys: c sort by CPU, m by memory, n by network, a or N by name; / filter (Enter keep, Esc clear);
      up/down (or k/j), PgUp/PgDn, Home/End; Enter detail, Esc or Backspace back; q or Ctrl-C quit
`;

export interface TopArgs {
  server: string;
  token: string | undefined;
  filter: SubscriptionFilterInput;
}

/** Parses `top`'s arguments (without the "top" word); throws Error with a message on bad usage. */
export function parseTopArgs(argv: readonly string[], env: Record<string, string | undefined>): TopArgs | 'help' {
  let server: string | undefined;
  let token: string | undefined;
  const hosts: string[] = [];
  const names: string[] = [];
  const labels: string[] = [];
  const containerIds: string[] = [];
  const lists: Record<string, string[]> = { '--host': hosts, '--name': names, '--label': labels, '--id': containerIds };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const known = flag === '--server' || flag === '--token' || flag in lists;
    if (!known) throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new Error(`${flag} needs a value`);
    if (flag === '--server') server = value;
    else if (flag === '--token') token = value;
    else lists[flag]!.push(value);
  }

  server = server ?? (env.DOCKWATCH_SERVER || undefined) ?? (env.SERVER_ADDR?.split(',')[0]?.trim() || undefined) ?? DEFAULT_TOP_SERVER;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(server) || Number(server.slice(server.lastIndexOf(':') + 1)) > 65535) {
    throw new Error(`--server ${JSON.stringify(server)}: expected host:port`);
  }
  token = token ?? (env.DOCKWATCH_TOKEN || undefined);
  return { server, token, filter: { hosts, names, labels, containerIds } };
}
