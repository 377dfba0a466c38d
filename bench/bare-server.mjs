// Baseline for the benchmark: a bare node:http server that reads each request body and sends a
// fixed JSON body of the length given as the first argument. Usage: node bench/bare-server.mjs 250
import { createServer } from 'node:http';

const length = Number(process.argv[2] ?? 250);
const prefix = '{"access_token":"';
const suffix = '","token_type":"Bearer"}';
const filler = 'x'.repeat(Math.max(0, length - prefix.length - suffix.length));
const body = Buffer.from(`${prefix}${filler}${suffix}`);

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    response.end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`bare server listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
