import { isUtf8 } from 'node:buffer';
import { InvalidRequestError } from '../errors.js';

/**
 * Parameters of an `application/x-www-form-urlencoded` body, decoded as RFC 6749 Appendix B
 * specifies. Empty values are dropped on parsing because RFC 6749 §3.2 treats a parameter sent
 * without a value as omitted.
 */
export class FormParameters {
  readonly #values = new Map<string, string[]>();

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

const AMPERSAND = 0x26;
const EQUALS = 0x3d;

/**
 * Parses a form body: `+` is a space, `%XX` is a byte, and the bytes must be UTF-8. Every name
 * and value is decoded from its own bytes, so a value that is kept, in the token index or the
 * request log, never holds on to the rest of the body as a substring would.
 * @throws InvalidRequestError on bytes that are not UTF-8 or a malformed percent escape.
 */
export function parseForm(body: Buffer): FormParameters {
  if (!isUtf8(body)) throw new InvalidRequestError('request body is not valid UTF-8');
  const parameters = new FormParameters();
  const { length } = body;
  // A leading UTF-8 byte order mark, which some tools write at the start of a file they send,
  // is not part of the first name.
  const first = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  // Position of the next `=` at or after `start`, or -1 when there is none. It is searched again
  // only once `start` has passed it, so a body of many pairs without `=` is read in one pass.
  let nextEquals = -2;
  for (let start = first; start <= length; ) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = length;
    if (end > start) {
      if (nextEquals !== -1 && nextEquals < start) nextEquals = body.indexOf(EQUALS, start);
      const separator = nextEquals !== -1 && nextEquals < end ? nextEquals : end;
      const name = decodeFormComponent(body.toString('utf8', start, separator), undefined);
      const value =
        separator === end
          ? ''
          : decodeFormComponent(body.toString('utf8', separator + 1, end), name);
      if (name !== '' && value !== '') parameters.add(name, value);
    }
    start = end + 1;
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
