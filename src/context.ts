import type { ClientRegistry } from './client-auth/clients.js';
import type { ControllableClock } from './clock.js';
import type { Config } from './config/schema.js';
import { ExchangeCounters } from './control/counters.js';
import { EndpointRegistry } from './endpoints/registry.js';
import type { GrantRegistry } from './grants/registry.js';
import type { KeyStore } from './keys/keystore.js';
import type { RequestLog } from './request-log/store.js';
import type { RuleStore } from './rules/store.js';
import type { TokenIndex } from './tokens/token-index.js';

/** The state every endpoint and grant of one server shares. */
export class ServerContext {
  readonly config: Config;
  /** The server's clock, which the control API can freeze, advance and release. */
  readonly clock: ControllableClock;
  readonly clients: ClientRegistry;
  readonly grants: GrantRegistry;
  readonly requestLog: RequestLog;
  readonly tokenIndex: TokenIndex;
  /** Scripted responses and faults. */
  readonly rules: RuleStore;
  /** Successful token responses by client, subject and target, for the control API. */
  readonly counters = new ExchangeCounters();
  /** Endpoints mounted so far, for discovery metadata. */
  readonly endpoints = new EndpointRegistry();
  readonly #loadKeys: () => Promise<KeyStore>;
  #keys: Promise<KeyStore> | undefined;

  constructor(parts: {
    config: Config;
    clock: ControllableClock;
    clients: ClientRegistry;
    grants: GrantRegistry;
    requestLog: RequestLog;
    tokenIndex: TokenIndex;
    rules: RuleStore;
    loadKeys: () => Promise<KeyStore>;
  }) {
    this.config = parts.config;
    this.clock = parts.clock;
    this.clients = parts.clients;
    this.grants = parts.grants;
    this.requestLog = parts.requestLog;
    this.tokenIndex = parts.tokenIndex;
    this.rules = parts.rules;
    this.#loadKeys = parts.loadKeys;
  }

  /**
   * Returns the signing keys, loading them on first use. Generating an RSA key takes about a
   * tenth of a second, so a server that never signs never pays for it.
   */
  keys(): Promise<KeyStore> {
    this.#keys ??= this.#loadKeys();
    return this.#keys;
  }

  /** Current time in whole seconds since the epoch, as JWT claims use it. */
  nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}
