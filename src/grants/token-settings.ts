import type { ServerContext } from '../context.js';

/**
 * Picks the token format and extra claims: the first target with settings, else the client's,
 * else the global ones. Claims merge in that order, the more specific winning.
 */
export function tokenSettings(server: ServerContext, clientId: string, targets: readonly string[]) {
  const { config } = server;
  const clientSettings = config.clients?.find((client) => client.clientId === clientId);
  const targetSettings = targets.map((target) => config.audiences[target]).find(Boolean);
  return {
    format: targetSettings?.tokenFormat ?? clientSettings?.tokenFormat ?? config.tokenFormat,
    claims: { ...config.claims, ...clientSettings?.claims, ...targetSettings?.claims },
  };
}
