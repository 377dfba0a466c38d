import type { FastifyInstance } from 'fastify';

export const HEALTH_PATH = '/health';

/** Registers `GET /health`, which returns 200 while the server accepts requests. */
export async function healthEndpoint(app: FastifyInstance): Promise<void> {
  app.get(HEALTH_PATH, async () => ({ status: 'ok' }));
}
