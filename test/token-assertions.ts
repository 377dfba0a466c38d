import { expect } from 'vitest';
import type { RequestLogEntry } from '../src/request-log/entry.js';
import { postToken } from './helpers.js';

/** Challenge sent with every `invalid_client` response of a server with the default realm. */
export const BASIC_CHALLENGE = 'Basic realm="mock-token-exchange-server", charset="UTF-8"';

/** RFC 6749 §5.2: the characters allowed in `error` and `error_description`. */
export const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/** Checks the headers RFC 6749 §5.1 requires on every token endpoint response. */
export function expectNoStore(response: Response): void {
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('pragma')).toBe('no-cache');
}

/** Checks a JSON response with the no-store headers and returns its parsed body. */
export async function readJson(response: Response): Promise<unknown> {
  expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expectNoStore(response);
  return response.json();
}

/** Checks an RFC 6749 §5.2 error response: status, headers and the exact body. */
export async function expectOAuthError(
  response: Response,
  status: number,
  error: string,
  description: string,
): Promise<void> {
  expect(response.status).toBe(status);
  expect(await readJson(response)).toEqual({ error, error_description: description });
}

/** Checks a 200 token response with its headers and returns the body. */
export async function expectTokenResponse(response: Response): Promise<Record<string, unknown>> {
  expect(response.status).toBe(200);
  return (await readJson(response)) as Record<string, unknown>;
}

/** Posts a token request that must succeed and returns the issued `access_token`. */
export async function issueToken(
  tokenUrl: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const response = await postToken(tokenUrl, body, headers);
  const json = await expectTokenResponse(response);
  expect(typeof json.access_token).toBe('string');
  return json.access_token as string;
}

/** Reads every request log entry of the server at `url`, oldest first. */
export async function logEntries(url: string): Promise<RequestLogEntry[]> {
  const response = await fetch(`${url}/log`);
  expect(response.status).toBe(200);
  const page = (await response.json()) as { entries: RequestLogEntry[] };
  return page.entries;
}

/** Reads the newest request log entry of the server at `url`. */
export async function lastLogEntry(url: string): Promise<RequestLogEntry> {
  const entries = await logEntries(url);
  const entry = entries.at(-1);
  if (entry === undefined) throw new Error('the request log is empty');
  return entry;
}
