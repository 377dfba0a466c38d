import { connect } from 'node:net';

/**
 * Sends one HTTP/1.1 request over a new connection with exactly the given header lines and
 * body, so that a test chooses the framing (`Content-Length`, `Transfer-Encoding` or neither)
 * that `fetch` would set itself. Returns the response as a fetch `Response`.
 * @throws Error when the response is chunked, which this reader does not decode.
 */
export async function sendRawRequest(
  url: string,
  method: string,
  path: string,
  headerLines: readonly string[],
  body = '',
): Promise<Response> {
  const { hostname, port } = new URL(url);
  const request = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: close',
    ...headerLines,
    '',
    body,
  ].join('\r\n');
  const raw = (await sendRaw(url, request)).toString('utf8');
  return parseRawResponse(raw);
}

/**
 * Writes `request` to a new connection to the server at `url`, ends the connection's writing
 * side, and resolves with every byte the server sends back before it closes.
 */
export function sendRaw(url: string, request: Buffer | string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.end(request);
  });
}

function parseRawResponse(raw: string): Response {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error(`incomplete HTTP response: ${JSON.stringify(raw)}`);
  const [statusLine = '', ...headerLines] = raw.slice(0, headEnd).split('\r\n');
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  if (headers.get('transfer-encoding') !== null) {
    throw new Error(`chunked response not supported: ${statusLine}`);
  }
  const status = Number(statusLine.split(' ')[1]);
  return new Response(raw.slice(headEnd + 4), { status, headers });
}
