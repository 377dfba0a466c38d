import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { type ClockControl, createControlApi } from '../control/api.js';
import { parseControlInput } from '../control/input.js';
import { requireAdminToken } from './admin-auth.js';
import { objectBody, requireJsonBodies, runControl } from './admin-json.js';

export const ADMIN_CLOCK_PATH = '/admin/clock';
export const ADMIN_CLOCK_FREEZE_PATH = '/admin/clock/freeze';
export const ADMIN_CLOCK_ADVANCE_PATH = '/admin/clock/advance';
export const ADMIN_CLOCK_RELEASE_PATH = '/admin/clock/release';

const freezeSchema = z.strictObject({
  time: z.iso.datetime({ offset: true }).optional(),
});

const advanceSchema = z.strictObject({
  seconds: z.number(),
});

/**
 * Registers the clock routes of the control API. `GET /admin/clock` returns
 * `{now, frozen}`, and `POST /admin/clock/freeze` (optional body `{time}`),
 * `POST /admin/clock/advance` (body `{seconds}`) and `POST /admin/clock/release` change the
 * clock and return the same shape. Every route requires the admin token when one is configured.
 */
export async function adminClockEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  const { clock } = createControlApi(server);
  app.addHook('onRequest', requireAdminToken(server.config.adminToken));
  requireJsonBodies(app);

  app.get(ADMIN_CLOCK_PATH, async () => clockState(clock));

  app.post(ADMIN_CLOCK_FREEZE_PATH, async (request) => {
    runControl(() => {
      const { time } = parseControlInput(freezeSchema, objectBody(request.body));
      clock.freeze(time);
    });
    return clockState(clock);
  });

  app.post(ADMIN_CLOCK_ADVANCE_PATH, async (request) => {
    runControl(() => {
      const { seconds } = parseControlInput(advanceSchema, objectBody(request.body));
      clock.advance(seconds);
    });
    return clockState(clock);
  });

  app.post(ADMIN_CLOCK_RELEASE_PATH, async () => {
    clock.release();
    return clockState(clock);
  });
}

function clockState(clock: ClockControl): { now: string; frozen: boolean } {
  return { now: clock.now().toISOString(), frozen: clock.frozen };
}
