// `dockwatch agent` on a small memory budget (issue 13: under 60 MB RSS at 100 containers).
// src/cli.ts imports this module first, so it runs before any other module is loaded: the young
// generation V8 would grow while modules load stays at its initial 1 MB semi-spaces.
//
// The agent's work is small and I/O-bound. What V8 spends memory on to make a busy program fast
// costs it 10-20 MB of RSS at 100 containers and saves it only 0.2-0.7 point of a core
// (BENCHMARKS.md §1, both measured on a loaded 2-core machine):
//   --no-opt, --no-sparkplug          no optimizing or baseline compiler: bytecode only (no code
//                                     space for compiled functions, no compiler zones);
//   --semi-space-growth-factor=1      the young generation keeps its initial 1 MB semi-spaces
//                                     instead of growing to 16 MB;
//   a full collection every 30 s      the old generation otherwise fills with the samples each round
//                                     promotes (they live one round) for minutes before V8 collects
//                                     it; with 10 MB live this costs a few ms every 30 s;
//   --no-memory-reducer               that collection does the reducer's work; the reducer's own
//                                     compacting collections evacuate pages and were the RSS peak
//                                     (+3 MB for a moment).
// The flags are read where they are used (at tier-up, and when a scavenge decides whether to grow
// the young generation), so setting them at run time takes effect. Only the `agent` subcommand:
// `all` keeps V8's defaults for its server. AGENT_LOW_MEMORY=false turns it all off (the CLI
// validates the value with the other settings).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const LOW_MEMORY_FLAGS = ['--no-opt', '--no-sparkplug', '--semi-space-growth-factor=1', '--no-memory-reducer'] as const;
export const FULL_GC_EVERY_MS = 30_000;

export function lowMemoryWanted(argv: readonly string[], env: Record<string, string | undefined>): boolean {
  return argv[0] === 'agent' && !/^(0|false|no|off)$/i.test((env.AGENT_LOW_MEMORY ?? '').trim());
}

/** A function that runs a full collection (V8's `gc`, made visible in a context of its own). */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

if (lowMemoryWanted(process.argv.slice(2), process.env)) {
  for (const flag of LOW_MEMORY_FLAGS) setFlagsFromString(flag);
  const gc = fullGc();
  setInterval(gc, FULL_GC_EVERY_MS).unref();
}
