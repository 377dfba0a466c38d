import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { DestinationStream } from 'pino';
import { ClientRegistry } from './client-auth/clients.js';
import { type Clock, ControllableClock, systemClock } from './clock.js';
import { resolveConfig } from './config/load.js';
import type { Config, ConfigInput } from './config/schema.js';
import { ServerContext } from './context.js';
import {
  type ClockControl,
  type ControlApi,
  createControlApi,
  type RulesControl,
} from './control/api.js';
import type { ExchangeCounts } from './control/counters.js';
import {
  ADMIN_CLOCK_ADVANCE_PATH,
  ADMIN_CLOCK_FREEZE_PATH,
  ADMIN_CLOCK_PATH,
  ADMIN_CLOCK_RELEASE_PATH,
  adminClockEndpoint,
} from './endpoints/admin-clock.js';
import {
  ADMIN_COUNTERS_PATH,
  ADMIN_RESET_PATH,
  adminControlEndpoint,
  CONTROL_API_METHODS,
} from './endpoints/admin-control.js';
import { ADMIN_RULE_PATH, ADMIN_RULES_PATH, adminRulesEndpoint } from './endpoints/admin-rules.js';
import { ADMIN_TOKENS_PATH, adminTokensEndpoint } from './endpoints/admin-tokens.js';
import { AUTHORIZE_PATH, authorizeEndpoint } from './endpoints/authorize.js';
import { discoveryEndpoints, metadataPaths } from './endpoints/discovery.js';
import { HEALTH_PATH, healthEndpoint } from './endpoints/health.js';
import { INTROSPECTION_PATH, introspectionEndpoint } from './endpoints/introspection.js';
import { JWKS_PATH, jwksEndpoint } from './endpoints/jwks.js';
import { LOG_PATH, logEndpoint } from './endpoints/log.js';
import { REVOCATION_PATH, revocationEndpoint } from './endpoints/revocation.js';
import { TOKEN_PATH, tokenEndpoint } from './endpoints/token.js';
import { InvalidRequestError, OAuthError } from './errors.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { GrantRegistry } from './grants/registry.js';
import { tokenExchangeGrant } from './grants/token-exchange.js';
import {
  installErrorHandling,
  rawClientErrorResponse,
  sendOAuthError,
} from './http/error-handler.js';
import { KeyStore } from './keys/keystore.js';
import { loggerOptions, logRequestCompleted } from './logging.js';
import { RequestLog } from './request-log/store.js';
import { RuleStore } from './rules/store.js';
import { type MintedToken, type MintTokenOptions, mintToken } from './tokens/mint.js';
import { TokenIndex } from './tokens/token-index.js';
import { issuerKeys } from './validation/issuer-keys.js';

/** Methods served on each path, for 405 responses with `Allow`. */
const ALLOWED_METHODS: ReadonlyMap<string, readonly string[]> = new Map([
  [TOKEN_PATH, ['POST']],
  [INTROSPECTION_PATH, ['POST']],
  [REVOCATION_PATH, ['POST']],
  [HEALTH_PATH, ['GET', 'HEAD']],
  [LOG_PATH, ['GET', 'DELETE']],
  [ADMIN_TOKENS_PATH, ['POST']],
  ...CONTROL_API_METHODS,
  [JWKS_PATH, ['GET', 'HEAD']],
  [AUTHORIZE_PATH, ['GET', 'HEAD']],
]);

/** Options of {@link createServer}: the config settings plus what only code can pass. */
export interface ServerOptions extends ConfigInput {
  /** Time source for issued tokens and log entries; the system clock by default. */
  clock?: Clock;
  /** Destination of the pino server log; standard output by default. */
  logStream?: DestinationStream;
}

/** The routes the server serves, for the startup message. */
export interface Endpoint {
  method: string;
  path: string;
  description: string;
}

export interface MockTokenExchangeServer {
  /** The validated settings, with defaults applied. */
  readonly config: Config;
  /** The Fastify instance, for `inject` in tests. */
  readonly app: FastifyInstance;
  /** Shared state: settings, clock, clients, grants, keys and the token index. */
  readonly context: ServerContext;
  /** Exchange requests received, oldest first. */
  readonly requestLog: RequestLog;
  /** Base URL such as `http://127.0.0.1:9999`; throws before {@link listen} resolves. */
  readonly url: string;
  readonly endpoints: readonly Endpoint[];
  /**
   * Starts listening. Port and host default to the configured ones; port 0 picks a free port.
   * Resolves to the base URL.
   */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /**
   * Loads keys and registers every route without listening, as `app.inject` needs.
   * @throws ConfigError when the key file is unusable.
   */
  ready(): Promise<void>;
  /** Stops accepting connections and resolves when requests in flight have completed. */
  close(): Promise<void>;
  /**
   * Signs a JWT for tests with the server's active key and clock, as `POST /admin/tokens`
   * does. `iss` defaults to the configured `issuer`, or else to {@link url}.
   * @throws MintOptionsError when an option is invalid.
   * @throws Error when `iss` is needed before {@link listen} resolves and no issuer is configured.
   */
  mintToken(options: MintTokenOptions): Promise<MintedToken>;
  /** The token endpoint's rules, as `/admin/rules` manages them. */
  readonly rules: RulesControl;
  /** The server's clock, as `/admin/clock` manages it. */
  readonly clock: ClockControl;
  /** Successful token responses by client, subject, audience and resource. */
  counters(): ExchangeCounts;
  /** Clears the counters, as `DELETE /admin/counters` does. */
  clearCounters(): void;
  /**
   * Restores the configured rules, clears the counters and the request log, and releases the
   * clock, as `POST /admin/reset` does.
   */
  reset(): ReturnType<ControlApi['reset']>;
}

/**
 * Creates a mock token exchange server. Settings are validated as the config file is.
 * @throws ConfigError when a setting is invalid.
 */
export function createServer(options: ServerOptions = {}): MockTokenExchangeServer {
  const { clock = systemClock, logStream, ...settings } = options;
  const config = resolveConfig(settings);
  const requestLog = new RequestLog(config.requestLog.maxEntries);
  const context = new ServerContext({
    config,
    clock: new ControllableClock(clock),
    clients: new ClientRegistry(config.clients),
    grants: new GrantRegistry([tokenExchangeGrant, clientCredentialsGrant]),
    requestLog,
    tokenIndex: new TokenIndex(config.tokenIndexSize),
    rules: new RuleStore(config.rules),
    loadKeys: () => loadKeys(config),
  });

  const app = Fastify({
    logger: loggerOptions(config.logLevel, logStream),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeout * 1000,
    // Node checks request timeouts only every 30 s by default, which would let a stalled client
    // hold a connection far past a short `requestTimeout`.
    serverFactory: (handler) =>
      createHttpServer(
        { requestTimeout: config.requestTimeout * 1000, connectionsCheckingInterval: 1000 },
        handler,
      ),
    forceCloseConnections: 'idle',
    // The onRequest hook below responds during shutdown instead, in the OAuth error shape.
    return503OnClosing: false,
    frameworkErrors: (error, _request, reply) => {
      // A URL that cannot be decoded, such as `/%zz`, never reaches the error handler.
      sendOAuthError(
        reply,
        new InvalidRequestError('malformed URL', { detail: error.message }),
        config.realm,
      );
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || !socket.writable) return;
      app.log.debug({ code: error.code }, 'malformed HTTP request rejected');
      socket.end(rawClientErrorResponse(error.code));
    },
  });

  const discoveryPaths = metadataPaths(config.issuer);
  const allowedMethods = new Map(ALLOWED_METHODS);
  for (const path of [...discoveryPaths.oauth, ...discoveryPaths.openid]) {
    allowedMethods.set(path, ['GET', 'HEAD']);
  }
  installErrorHandling(app, config.realm, config.bodyLimit, allowedMethods);
  app.server.on('checkExpectation', (_request, response) => {
    // Node responds to an `Expect` other than 100-continue itself, with an empty body.
    sendRawJson(response, 417, {
      error: 'invalid_request',
      error_description: 'only the Expect value 100-continue is supported',
    });
  });
  // Fastify 5 closes only the connections that are idle when closing starts. A response sent
  // after that gets `Connection: close`, or close() waits until the client drops the connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // The hooks on every request take a callback rather than returning a promise, which spares
  // each request a promise and a microtask turn per hook.
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!closing) return done();
    done(
      new OAuthError('temporarily_unavailable', 503, 'the server is shutting down', {
        headers: { connection: 'close' },
      }),
    );
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    // RFC 6749 §5.1: token responses must not be cached; every other response follows suit.
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', logRequestCompleted);

  app.register(async () => {
    // Key files and trusted issuers' JWKS files are read at startup, so that a bad file stops
    // the server before it listens.
    if (config.keys.file !== undefined) await context.keys();
    await issuerKeys(context).loadTrusted();
  });
  app.register(healthEndpoint);
  app.register(tokenEndpoint, { server: context });
  app.register(introspectionEndpoint, { server: context });
  app.register(revocationEndpoint, { server: context });
  app.register(logEndpoint, { requestLog, adminToken: config.adminToken });
  app.register(adminTokensEndpoint, { server: context });
  app.register(adminRulesEndpoint, { server: context });
  app.register(adminClockEndpoint, { server: context });
  app.register(adminControlEndpoint, { server: context });
  app.register(authorizeEndpoint, { server: context });
  app.register(jwksEndpoint, { server: context });
  app.register(discoveryEndpoints, { server: context });

  const endpoints: Endpoint[] = [
    { method: 'POST', path: TOKEN_PATH, description: 'token exchange (RFC 8693)' },
    { method: 'POST', path: INTROSPECTION_PATH, description: 'token introspection (RFC 7662)' },
    { method: 'POST', path: REVOCATION_PATH, description: 'token revocation (RFC 7009)' },
    { method: 'GET', path: HEALTH_PATH, description: 'health check' },
    { method: 'GET', path: LOG_PATH, description: 'request log' },
    { method: 'DELETE', path: LOG_PATH, description: 'clear the request log' },
    { method: 'POST', path: ADMIN_TOKENS_PATH, description: 'mint a signed token for tests' },
    { method: 'GET', path: ADMIN_RULES_PATH, description: 'list the token endpoint rules' },
    { method: 'POST', path: ADMIN_RULES_PATH, description: 'add a rule' },
    { method: 'DELETE', path: ADMIN_RULES_PATH, description: 'restore the configured rules' },
    { method: 'PUT', path: ADMIN_RULE_PATH, description: 'replace a rule' },
    { method: 'DELETE', path: ADMIN_RULE_PATH, description: 'remove a rule' },
    { method: 'GET', path: ADMIN_CLOCK_PATH, description: 'read the clock' },
    { method: 'POST', path: ADMIN_CLOCK_FREEZE_PATH, description: 'freeze the clock' },
    { method: 'POST', path: ADMIN_CLOCK_ADVANCE_PATH, description: 'move the clock' },
    { method: 'POST', path: ADMIN_CLOCK_RELEASE_PATH, description: 'let the clock run' },
    { method: 'GET', path: ADMIN_COUNTERS_PATH, description: 'successful token responses counted' },
    { method: 'DELETE', path: ADMIN_COUNTERS_PATH, description: 'clear the counters' },
    {
      method: 'POST',
      path: ADMIN_RESET_PATH,
      description: 'restore rules, clear counters and log, release the clock',
    },
    { method: 'GET', path: JWKS_PATH, description: 'public signing keys (JWKS)' },
    ...discoveryPaths.oauth.map((path) => ({
      method: 'GET',
      path,
      description: 'authorization server metadata (RFC 8414)',
    })),
    ...discoveryPaths.openid.map((path) => ({
      method: 'GET',
      path,
      description: 'OpenID Connect discovery',
    })),
    {
      method: 'GET',
      path: AUTHORIZE_PATH,
      description: 'authorization endpoint that supports no response type',
    },
  ];

  const control = createControlApi(context);
  let url: string | undefined;
  let warned = false;
  let closed = false;

  return {
    config,
    app,
    context,
    requestLog,
    endpoints,
    rules: control.rules,
    clock: control.clock,
    counters: () => control.counters(),
    clearCounters: () => control.clearCounters(),
    reset: () => control.reset(),
    get url() {
      if (url === undefined)
        throw new Error('the server is not listening yet; call listen() first');
      return url;
    },
    async listen(listenOptions = {}) {
      if (closed) throw new Error('the server is closed; create a new one with createServer()');
      const host = listenOptions.host ?? config.host;
      const port = listenOptions.port ?? config.port;
      if (!warned) {
        warnAboutSettings(app, config, host);
        warned = true;
      }
      await app.listen({ host, port });
      url = baseUrl(app, host);
      return url;
    },
    async ready() {
      await app.ready();
    },
    mintToken(mintOptions) {
      return mintToken(
        {
          keys: () => context.keys(),
          nowSeconds: () => context.nowSeconds(),
          issuer: () => {
            if (config.issuer !== undefined) return config.issuer;
            if (url === undefined) {
              throw new Error('the server has no issuer before listen(); pass iss or listen first');
            }
            return url;
          },
        },
        mintOptions,
      );
    },
    async close() {
      closed = true;
      // A client that stalls mid-request must not hold shutdown open for longer than a request
      // may take anyway.
      const force = setTimeout(
        () => app.server.closeAllConnections(),
        config.requestTimeout * 1000,
      );
      force.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(force);
      }
    },
  };
}

function baseUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${address.port}`;
}

/** Logs one warning for each setting that makes the server less strict than a real one. */
function warnAboutSettings(app: FastifyInstance, config: Config, host: string): void {
  if (!config.clients) {
    app.log.warn('no clients configured: any client id and secret is accepted');
  }
  if (config.adminToken === undefined) {
    app.log.warn(
      'no admin token configured: /log and the control API under /admin are open to every caller',
    );
  }
  if (config.requestLog.unsafeIncludeTokens) {
    app.log.warn('requestLog.unsafeIncludeTokens is on: tokens are stored in clear in /log');
  }
  if (!isLoopback(host)) {
    app.log.warn({ host }, 'listening beyond loopback: other machines can reach this server');
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function sendRawJson(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  response.end(text);
}

/** Loads the configured key file, or generates a key of the configured algorithm. */
async function loadKeys(config: Config): Promise<KeyStore> {
  const { file, activeKeyId, algorithm } = config.keys;
  if (file !== undefined) return KeyStore.fromFile(file, activeKeyId);
  return KeyStore.generate(algorithm);
}
