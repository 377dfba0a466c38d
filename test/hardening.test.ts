import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { exchangeBody, postToken, startServer, TOKEN_EXCHANGE } from './helpers.js';
import {
  expectOAuthError,
  expectTokenResponse,
  issueToken,
  lastLogEntry,
  readJson,
} from './token-assertions.js';

/** Builds an unsigned JWT whose claims nest arrays `depth` levels deep. */
function deeplyNestedJwt(depth: number): string {
  const encode = (value: string) => Buffer.from(value).toString('base64url');
  const claims = `{"sub":"deep","a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  return `${encode('{"alg":"none"}')}.${encode(claims)}.`;
}

describe('hostile subject tokens', () => {
  it('deeply nested claims keep /log readable', async () => {
    const { url, tokenUrl } = await startServer();
    const subjectToken = deeplyNestedJwt(5000);

    await issueToken(tokenUrl, exchangeBody({ subject_token: subjectToken }));
    const response = await fetch(`${url}/log`);

    expect(response.status).toBe(200);
    const entry = await lastLogEntry(url);
    expect(entry.subjectToken?.jwt).toBeNull();
    expect(entry.subject).toBeNull();
  });

  it('shallow nested claims are decoded', async () => {
    const { url, tokenUrl } = await startServer();

    await issueToken(tokenUrl, exchangeBody({ subject_token: deeplyNestedJwt(10) }));

    const entry = await lastLogEntry(url);
    expect(entry.subject).toBe('deep');
  });
});

describe('hostile targets', () => {
  it('control character in audience rejected', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ audience: 'a\r\nX-Evil: 1' }));
    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'audience must not contain control characters',
    );
  });

  it('overlong audience rejected', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ audience: 'a'.repeat(2049) }));
    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'audience is longer than 2048 characters',
    );
  });

  it('overlong resource rejected', async () => {
    const { tokenUrl } = await startServer();
    const resource = `https://mcp.example/${'a'.repeat(2048)}`;
    const response = await postToken(tokenUrl, exchangeBody({ audience: undefined, resource }));
    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'resource is longer than 2048 characters',
    );
  });

  it('space and quotes percent-encoded in token', async () => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody({ audience: 'my "server" 1' }));
    expect(token).toMatch(/^exchanged-[0-9a-f]{16}-for-my%20"server"%201$/);
  });

  it('token is printable ASCII', async () => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody({ audience: 'ünïcødé ✓' }));
    // RFC 6749 Appendix A.12: access-token = 1*VSCHAR.
    expect(token).toMatch(/^[\x20-\x7E]+$/);
  });

  it('log keeps at most maxTargets audiences', async () => {
    const { url, tokenUrl } = await startServer({ maxTargets: 3 });
    const body = `${exchangeBody({ audience: 'a0' })}${[1, 2, 3, 4, 5]
      .map((index) => `&audience=a${index}`)
      .join('')}`;

    const response = await postToken(tokenUrl, body);

    expect(response.status).toBe(400);
    const entry = await lastLogEntry(url);
    expect(entry.audiences).toEqual(['a0', 'a1', 'a2']);
  });
});

describe('methods on known paths', () => {
  it.each(['TRACE', 'HEAD'])('%s on token endpoint is 405', async (method) => {
    const { tokenUrl } = await startServer();
    const response = await fetchRaw(tokenUrl, method);
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
  });

  it('PROPFIND on token endpoint is 405', async () => {
    const { tokenUrl } = await startServer();
    const response = await fetchRaw(tokenUrl, 'PROPFIND');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'method not allowed, use POST',
    });
  });

  it('POST on /health is 405', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/health`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });

  it('HEAD on /health is 200', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/health`, { method: 'HEAD' });
    expect(response.status).toBe(200);
  });

  it('long unknown path is shortened', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/${'x'.repeat(5000)}`);
    const body = (await readJson(response)) as { error_description: string };
    expect(response.status).toBe(404);
    expect(body.error_description).toBe(`no route for GET /${'x'.repeat(99)}...`);
  });
});

describe('unusual framing', () => {
  it('empty Content-Type is 400', async () => {
    const { tokenUrl } = await startServer();
    const response = await fetchRaw(tokenUrl, 'POST', { 'content-type': '' }, exchangeBody());
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'request body must be application/x-www-form-urlencoded',
    });
  });

  it('unsupported Expect is JSON 417', async () => {
    const { tokenUrl } = await startServer();
    const { port } = new URL(tokenUrl);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
        if (received.includes('}')) socket.destroy();
      });
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
      socket.write(
        'POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nab',
      );
    });

    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 417 Expectation Failed');
    expect(raw).toContain('\r\ncache-control: no-store\r\n');
    expect(
      raw.endsWith(
        '{"error":"invalid_request","error_description":"only the Expect value 100-continue is supported"}',
      ),
    ).toBe(true);
  });
});

describe('slow and stalled clients', () => {
  it('stalled body times out with 408', async () => {
    const { tokenUrl } = await startServer({ requestTimeout: 1 });
    const { port } = new URL(tokenUrl);
    const started = Date.now();

    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
      });
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
      socket.write(
        'POST /oauth2/token HTTP/1.1\r\nHost: x\r\n' +
          'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nab',
      );
    });

    expect(Date.now() - started).toBeLessThan(5000);
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(
      raw.endsWith('{"error":"invalid_request","error_description":"request timed out"}'),
    ).toBe(true);
  });

  it('close does not wait on stalled client', async () => {
    const { server, tokenUrl } = await startServer({ requestTimeout: 2 });
    const { port } = new URL(tokenUrl);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    socket.write('POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();

    await server.close();

    expect(Date.now() - started).toBeLessThan(4000);
    socket.destroy();
  });

  it('shutdown closes pipelined connection', async () => {
    const { server, tokenUrl } = await startServer();
    const { port } = new URL(tokenUrl);
    const body = exchangeBody();
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString();
    });
    const ended = new Promise((resolve) => socket.on('close', resolve));

    // The first request is still arriving when shutdown starts; the second one is pipelined.
    socket.write(
      'POST /oauth2/token HTTP/1.1\r\nHost: x\r\n' +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n` +
        body.slice(0, 10),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = server.close();
    socket.write(`${body.slice(10)}GET /health HTTP/1.1\r\nHost: x\r\n\r\n`);
    await Promise.all([closing, ended]);

    // The first response closes the connection, so the pipelined request is never started.
    const responses = received.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(1);
    expect(responses[0]?.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(responses[0]).toContain('\r\nconnection: close\r\n');
  });
});

describe('token responses after hardening', () => {
  it('README request still succeeds', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ grant_type: TOKEN_EXCHANGE }));
    const body = await expectTokenResponse(response);
    expect(body.access_token).toBe('exchanged-53a23a852c28f3be-for-api://my-mcp-server');
  });
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends a request with node:http, which allows any method and header, and reads the response. */
function fetchRaw(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: string,
  agent?: import('node:http').Agent,
): Promise<RawResponse> {
  const allHeaders =
    body === undefined
      ? headers
      : { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers: allHeaders, agent }, (response) => {
      let text = '';
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
      );
    });
    request.on('error', reject);
    if (body !== undefined) {
      request.setHeader(
        'content-type',
        headers['content-type'] ?? 'application/x-www-form-urlencoded',
      );
      request.end(body);
    } else {
      request.end();
    }
  });
}

describe('server lifecycle', () => {
  it('listen after close is rejected', async () => {
    const { server } = await startServer();
    await server.close();
    await expect(server.listen({ port: 0 })).rejects.toThrow(
      'the server is closed; create a new one with createServer()',
    );
  });
});
