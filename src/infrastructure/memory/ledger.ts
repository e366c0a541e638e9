// Highest acked sequence per agent, in memory. A server restart forgets it; the durable
// stores tolerate the few resends that follow (same agent, same timestamps).
import type { SequenceLedger } from '../../application/ports.js';

export function createMemoryLedger(): SequenceLedger & { agents(): number } {
  const last = new Map<string, number>();
  return {
    lastAcked: (agentId) => last.get(agentId),
    record(agentId, sequence) {
      const prev = last.get(agentId);
      if (prev === undefined || sequence > prev) last.set(agentId, sequence);
    },
    agents: () => last.size,
  };
}
