import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatPath } from '../config/errors.js';
import { InvalidRequestError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import type { RequestLog, RequestLogQuery } from '../request-log/store.js';
import { requireAdminToken } from './admin-auth.js';

export const LOG_PATH = '/log';

const OUTCOME = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

const querySchema = z.strictObject({
  client_id: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  sub: z.string().min(1).optional(),
  outcome: z.string().regex(OUTCOME, 'must be success, error or an OAuth error code').optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,8}$/, 'must be a whole number from 1 to 999999999')
    .transform(Number)
    .optional(),
});

export interface LogEndpointDependencies {
  requestLog: RequestLog;
  adminToken: string | undefined;
}

/**
 * Registers `GET /log`, which lists request log entries oldest first, and `DELETE /log`, which
 * clears them. Both require the admin token when one is configured.
 */
export async function logEndpoint(
  app: FastifyInstance,
  deps: LogEndpointDependencies,
): Promise<void> {
  app.addHook('onRequest', requireAdminToken(deps.adminToken));

  app.get(LOG_PATH, async (request) => {
    const query = parseLogQuery(request.query);
    return deps.requestLog.query(query);
  });

  app.delete(LOG_PATH, async () => ({ removed: deps.requestLog.clear() }));
}

/**
 * Reads the filters of `GET /log`.
 * @throws InvalidRequestError naming each unknown or invalid filter.
 */
export function parseLogQuery(query: unknown): RequestLogQuery {
  const result = querySchema.safeParse(query ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown filter ${listNames(issue.keys)}`
        : `${formatPath(issue.path)}: ${issue.message}`,
    );
    throw new InvalidRequestError(`invalid query: ${problems.join('; ')}`);
  }
  const { client_id, audience, sub, outcome, since, limit } = result.data;
  return {
    ...(client_id !== undefined && { clientId: client_id }),
    ...(audience !== undefined && { audience }),
    ...(sub !== undefined && { subject: sub }),
    ...(outcome !== undefined && { outcome }),
    ...(since !== undefined && { since: Date.parse(since) }),
    ...(limit !== undefined && { limit }),
  };
}

/** Lists filter names for an error description, shortened so the description stays short. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((name) => truncate(name, 40));
  const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
  return `${shown.join(', ')}${more}`;
}
