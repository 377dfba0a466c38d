import type { ClientConfig } from '../config/schema.js';

/**
 * The registered clients. Without a configured list the registry is open: every client id is
 * accepted with any secret or none.
 */
export class ClientRegistry {
  readonly #clients: ReadonlyMap<string, ClientConfig> | undefined;

  constructor(clients: readonly ClientConfig[] | undefined) {
    this.#clients = clients && new Map(clients.map((client) => [client.clientId, client]));
  }

  /** True when no clients are configured and any client id is accepted. */
  get isOpen(): boolean {
    return this.#clients === undefined;
  }

  find(clientId: string): ClientConfig | undefined {
    return this.#clients?.get(clientId);
  }
}
