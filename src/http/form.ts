import { InvalidRequestError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parameters of an `application/x-www-form-urlencoded` body, decoded as RFC 6749 Appendix B
 * specifies. Empty values are dropped on parsing because RFC 6749 §3.2 treats a parameter sent
 * without a value as omitted.
 */
export class FormParameters {
  readonly #values = new Map<string, string[]>();
  /** The form as decoded text, before splitting; parsing it again gives the same parameters. */
  readonly source: string;

  constructor(source = '') {
    this.source = source;
  }

  add(name: string, value: string): void {
    const values = this.#values.get(name);
    if (values) values.push(value);
    else this.#values.set(name, [value]);
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  /**
   * Returns the single value of `name`, or `undefined` when it is absent.
   * @throws InvalidRequestError when the parameter is repeated (RFC 6749 §3.2).
   */
  one(name: string): string | undefined {
    const values = this.#values.get(name);
    if (!values) return undefined;
    if (values.length > 1) {
      throw new InvalidRequestError(`parameter ${name} must not be repeated`, {
        detail: `${name} was sent ${values.length} times`,
      });
    }
    return values[0];
  }

  /** Returns every value of a repeatable parameter such as `audience` or `resource`. */
  all(name: string): readonly string[] {
    return this.#values.get(name) ?? [];
  }

  names(): IterableIterator<string> {
    return this.#values.keys();
  }
}

/**
 * Parses a form body: `+` is a space, `%XX` is a byte, and the bytes must be UTF-8.
 * @throws InvalidRequestError on bytes that are not UTF-8 or a malformed percent escape.
 */
export function parseForm(body: Buffer | string): FormParameters {
  let text: string;
  try {
    text = typeof body === 'string' ? body : utf8.decode(body);
  } catch {
    throw new InvalidRequestError('request body is not valid UTF-8');
  }

  const parameters = new FormParameters(text);
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const rawName = separator === -1 ? pair : pair.slice(0, separator);
    const rawValue = separator === -1 ? '' : pair.slice(separator + 1);
    const name = decodeFormComponent(rawName, undefined);
    const value = decodeFormComponent(rawValue, name);
    if (name === '' || value === '') continue;
    parameters.add(name, value);
  }
  return parameters;
}

/**
 * Decodes one form-urlencoded name or value.
 * @throws InvalidRequestError when the escapes are malformed or do not decode to UTF-8.
 */
export function decodeFormComponent(raw: string, parameterName: string | undefined): string {
  const decoded = tryDecodeFormComponent(raw);
  if (decoded === undefined) {
    const where = parameterName === undefined ? 'a parameter name' : `parameter ${parameterName}`;
    throw new InvalidRequestError(`malformed percent-encoding in ${where}`, {
      detail: 'a percent escape is not followed by two hex digits or does not decode to UTF-8',
    });
  }
  return decoded;
}

/** Decodes one form-urlencoded component, or returns `undefined` when it is malformed. */
export function tryDecodeFormComponent(raw: string): string | undefined {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  // The body is already valid UTF-8, so a component without escapes needs no decoding.
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

/**
 * Returns true when a `Content-Type` header names `application/x-www-form-urlencoded`. The media
 * type is compared case-insensitively and its parameters, such as `charset`, are ignored.
 */
export function isFormContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (contentType === 'application/x-www-form-urlencoded') return true;
  const mediaType = contentType.split(';', 1)[0]?.trim().toLowerCase();
  return mediaType === 'application/x-www-form-urlencoded';
}
