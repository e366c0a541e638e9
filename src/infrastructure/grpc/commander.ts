// AgentCommander for a single server (no REDIS_URL): the command goes to the agent's stream
// on this process or nowhere. Pass the gRPC server's sendCommand as `local`.
import type { AgentCommand } from '../../domain/control.js';
import type { AgentCommander } from '../../application/control-ports.js';

export function createLocalCommander(local: (agentId: string, cmd: AgentCommand) => boolean): AgentCommander {
  return {
    send: async (agentId, cmd) => local(agentId, cmd),
  };
}
