import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../src/errors.js';
import { parseForm } from '../src/http/form.js';

type Outcome = { error: string } | { pairs: Array<[string, string]> };

/**
 * Parses `application/x-www-form-urlencoded` plainly, as RFC 6749 Appendix B applies it. It
 * decodes the bytes as UTF-8 without a leading byte order mark, splits on `&` and then on the
 * first `=`, turns `+` into a space and percent-decodes each part. Empty names and values are
 * dropped (RFC 6749 §3.2).
 */
function referenceParse(bytes: Uint8Array): Outcome {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { error: 'request body is not valid UTF-8' };
  }
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part.replaceAll('+', ' '));
    } catch {
      return undefined;
    }
  };
  const pairs: Array<[string, string]> = [];
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const name = decode(separator === -1 ? pair : pair.slice(0, separator));
    if (name === undefined) return { error: 'malformed percent-encoding in a parameter name' };
    const value = separator === -1 ? '' : decode(pair.slice(separator + 1));
    if (value === undefined) return { error: `malformed percent-encoding in parameter ${name}` };
    if (name !== '' && value !== '') pairs.push([name, value]);
  }
  return { pairs };
}

function parse(bytes: Uint8Array): Outcome {
  try {
    const parameters = parseForm(Buffer.from(bytes));
    const pairs: Array<[string, string]> = [];
    for (const name of parameters.names()) {
      for (const value of parameters.all(name)) pairs.push([name, value]);
    }
    return { pairs };
  } catch (error) {
    if (error instanceof InvalidRequestError) return { error: error.description };
    throw error;
  }
}

/** Groups pairs by name in first-seen order, as FormParameters keeps them. */
function grouped(outcome: Outcome): Outcome {
  if ('error' in outcome) return outcome;
  const byName = new Map<string, string[]>();
  for (const [name, value] of outcome.pairs) {
    byName.set(name, [...(byName.get(name) ?? []), value]);
  }
  return {
    pairs: [...byName].flatMap(([name, values]) => values.map((v) => [name, v])),
  } as Outcome;
}

/** Pieces that exercise separators, escapes, multi-byte and invalid UTF-8. */
const piece = fc.constantFrom(
  '&',
  '=',
  '+',
  '%',
  '%4',
  '%41',
  '%zz',
  '%C3%A9',
  '%C3',
  '%ED%A0%80',
  '%F0%9F%98%80',
  'a',
  'grant_type',
  'é',
  '😀',
  '\u{FEFF}',
  ' ',
);
const invalidByte = fc.constantFrom(0xff, 0xc3, 0x80, 0xed);

const body = fc
  .array(
    fc.oneof(
      piece.map((text) => Buffer.from(text)),
      invalidByte.map((b) => Buffer.of(b)),
    ),
    {
      maxLength: 40,
    },
  )
  .map((parts) => new Uint8Array(Buffer.concat(parts)));

describe('form parsing', () => {
  it('matches a plain reading of RFC 6749 Appendix B', () => {
    fc.assert(
      fc.property(body, (bytes) => {
        expect(parse(bytes)).toEqual(grouped(referenceParse(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('drops one leading byte order mark', () => {
    expect(parse(Buffer.from('\u{FEFF}a=1&b=2'))).toEqual({
      pairs: [
        ['a', '1'],
        ['b', '2'],
      ],
    });
    expect(parse(Buffer.from('\u{FEFF}\u{FEFF}a=1'))).toEqual({ pairs: [['\u{FEFF}a', '1']] });
  });
});
