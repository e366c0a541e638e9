// AGENT_LOW_MEMORY: which processes get the agent's V8 settings (src/agent/low-memory.ts), and the
// setting's validation with the other agent settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lowMemoryWanted, LOW_MEMORY_FLAGS } from '../../src/agent/low-memory.js';
import { loadAgentConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/env.js';

test('only `dockwatch agent` gets the low-memory V8 flags, unless AGENT_LOW_MEMORY is false', () => {
  assert.equal(lowMemoryWanted(['agent'], {}), true);
  assert.equal(lowMemoryWanted(['agent'], { AGENT_LOW_MEMORY: 'true' }), true);
  assert.equal(lowMemoryWanted(['agent'], { AGENT_LOW_MEMORY: ' ' }), true);
  for (const off of ['false', 'FALSE', '0', 'no', 'off', ' off ']) assert.equal(lowMemoryWanted(['agent'], { AGENT_LOW_MEMORY: off }), false, off);
  for (const cmd of ['all', 'server', 'top', 'user', undefined]) assert.equal(lowMemoryWanted(cmd ? [cmd] : [], {}), false, String(cmd));
  assert.deepEqual([...LOW_MEMORY_FLAGS], ['--no-opt', '--no-sparkplug', '--semi-space-growth-factor=1', '--no-memory-reducer']);
});

test('AGENT_LOW_MEMORY is validated like every boolean setting', () => {
  assert.equal(loadAgentConfig({}).lowMemory, true);
  assert.equal(loadAgentConfig({ AGENT_LOW_MEMORY: 'false' }).lowMemory, false);
  assert.throws(() => loadAgentConfig({ AGENT_LOW_MEMORY: 'maybe' }), (e: unknown) => e instanceof ConfigError && /AGENT_LOW_MEMORY="maybe": expected true or false/.test(e.message));
});
