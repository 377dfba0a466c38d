import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { createControlApi } from '../control/api.js';
import { requireAdminToken } from './admin-auth.js';
import {
  ADMIN_CLOCK_ADVANCE_PATH,
  ADMIN_CLOCK_FREEZE_PATH,
  ADMIN_CLOCK_PATH,
  ADMIN_CLOCK_RELEASE_PATH,
} from './admin-clock.js';
import { requireJsonBodies } from './admin-json.js';
import { ADMIN_RULES_PATH } from './admin-rules.js';

export const ADMIN_COUNTERS_PATH = '/admin/counters';
export const ADMIN_RESET_PATH = '/admin/reset';

/** Methods of the fixed control API paths, for 405 responses with `Allow`. */
export const CONTROL_API_METHODS: ReadonlyArray<readonly [string, readonly string[]]> = [
  [ADMIN_RULES_PATH, ['GET', 'HEAD', 'POST', 'DELETE']],
  [ADMIN_CLOCK_PATH, ['GET', 'HEAD']],
  [ADMIN_CLOCK_FREEZE_PATH, ['POST']],
  [ADMIN_CLOCK_ADVANCE_PATH, ['POST']],
  [ADMIN_CLOCK_RELEASE_PATH, ['POST']],
  [ADMIN_COUNTERS_PATH, ['GET', 'HEAD', 'DELETE']],
  [ADMIN_RESET_PATH, ['POST']],
];

/**
 * Registers `GET /admin/counters` (successful token responses by client, subject, audience and
 * resource), `DELETE /admin/counters`, which clears them, and `POST /admin/reset`, which
 * restores the configured rules, clears the counters and the request log, and releases the
 * clock. Every route requires the admin token when one is configured.
 */
export async function adminControlEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  const control = createControlApi(server);
  app.addHook('onRequest', requireAdminToken(server.config.adminToken));
  // The routes read no body, but a body of another type would otherwise get Fastify's
  // unsupported media type error, which names the token endpoint's form encoding.
  requireJsonBodies(app);

  app.get(ADMIN_COUNTERS_PATH, async () => control.counters());

  app.delete(ADMIN_COUNTERS_PATH, async () => {
    control.clearCounters();
    return control.counters();
  });

  app.post(ADMIN_RESET_PATH, async () => {
    const { removedLogEntries } = control.reset();
    return {
      rules: control.rules.list(),
      clock: { now: control.clock.now().toISOString(), frozen: control.clock.frozen },
      removedLogEntries,
    };
  });
}
