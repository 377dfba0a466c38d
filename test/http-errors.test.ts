import { describe, expect, it } from 'vitest';
import { startServer } from './helpers.js';
import { sendRaw } from './raw-request.js';

/** Sends raw bytes to the server and resolves with everything it writes back, as Latin-1. */
async function sendRawText(url: string, request: Buffer | string): Promise<string> {
  return (await sendRaw(url, request)).toString('latin1');
}

function splitResponse(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  return { statusLine, headers, body };
}

describe('malformed HTTP requests', () => {
  it('non-ASCII request line gets JSON 400', async () => {
    const { url } = await startServer();
    const raw = await sendRawText(
      url,
      Buffer.from('GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'),
    );
    const response = splitResponse(raw);
    expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers.pragma).toBe('no-cache');
    expect(response.headers.connection).toBe('close');
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'malformed HTTP request',
    });
  });

  it('garbage request line gets JSON 400', async () => {
    const { url } = await startServer();
    const response = splitResponse(await sendRawText(url, 'GARBAGE\r\n\r\n'));
    expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'malformed HTTP request',
    });
  });

  it('oversized headers get JSON 431', async () => {
    const { url } = await startServer();
    const request = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const response = splitResponse(await sendRawText(url, request));
    expect(response.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'request headers are too large',
    });
  });

  it('undecodable URL gets JSON 400', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/%zz`);
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'malformed URL',
    });
  });

  it('server still healthy afterwards', async () => {
    const { url } = await startServer();
    await sendRawText(url, 'GARBAGE\r\n\r\n');
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
