/**
 * The endpoints a server has mounted, by their RFC 8414 metadata name
 * (`token_endpoint`, `jwks_uri`...), so that discovery lists exactly what is served.
 */
export class EndpointRegistry {
  readonly #paths = new Map<string, string>();

  /** Records an endpoint's path under its metadata name. */
  add(metadataName: string, path: string): void {
    this.#paths.set(metadataName, path);
  }

  /** Returns the path of an endpoint, or `undefined` when it is not mounted. */
  path(metadataName: string): string | undefined {
    return this.#paths.get(metadataName);
  }

  entries(): IterableIterator<[string, string]> {
    return this.#paths.entries();
  }
}
