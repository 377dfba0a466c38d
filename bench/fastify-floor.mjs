// A Fastify server that sends a fixed token response for POST /oauth2/token and does no OAuth
// work, to measure what the framework costs per request. With `--like-server` it has the
// mock server's logger settings, server factory and hooks (a per-request child logger with
// redaction, callback hooks on every request, a request timeout), still without OAuth work.
// Usage: node bench/fastify-floor.mjs [--like-server]
import { createServer } from 'node:http';
import Fastify from 'fastify';

const likeServer = process.argv.includes('--like-server');
const body = JSON.stringify({
  access_token: 'exchanged-0000000000000000-for-api://my-mcp-server',
  issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  token_type: 'Bearer',
  expires_in: 3600,
  scope: 'mcp.tools.read mcp.tools.execute',
});

const app = Fastify(
  likeServer
    ? {
        logger: {
          level: 'warn',
          redact: { paths: ['req.headers.authorization', '*.client_secret'], censor: '[redacted]' },
        },
        serverFactory: (handler) =>
          createServer({ requestTimeout: 10_000, connectionsCheckingInterval: 1000 }, handler),
      }
    : { logger: false },
);
if (likeServer) {
  app.addHook('onRequest', (_request, _reply, done) => done());
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    done(null, payload);
  });
  app.addHook('onResponse', (_request, _reply, done) => done());
}
app.register(async (scope) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, raw, done) => done(null, raw));
  if (likeServer) {
    scope.addHook('onRequest', (request, _reply, done) => {
      request.receivedAt = Date.now();
      done();
    });
    scope.addHook('onSend', (_request, _reply, payload, done) => done(null, payload));
  }
  scope.post('/oauth2/token', async (_request, reply) => {
    reply.type('application/json; charset=utf-8');
    return body;
  });
});

await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`fastify floor listening on http://127.0.0.1:${app.server.address().port}`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
