// The in-memory ControlStore the route and page tests use keeps the same contract as the real adapters.
import { createMemoryControlStore } from '../helpers/memory-control-store.js';
import { registerControlStoreContract } from '../helpers/control-store-contract.js';

registerControlStoreContract('memory', async () => {
  const store = createMemoryControlStore();
  return { store, peer: store, dispose: async () => {} };
});
