import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';

/**
 * Options of the pino server log. Requests are logged by {@link logRequestCompleted} alone, so
 * Fastify's own request logging, which would log URLs with their query, is switched off.
 */
export function loggerOptions(level: string, stream: DestinationStream | undefined) {
  const options: LoggerOptions & { stream?: DestinationStream } = {
    level,
    // Defence in depth: nothing logs these, and if something ever does, they are hidden.
    redact: {
      paths: [
        'req.headers.authorization',
        '*.client_secret',
        '*.subject_token',
        '*.actor_token',
        '*.access_token',
      ],
      censor: '[redacted]',
    },
  };
  if (stream) options.stream = stream;
  return options;
}

/**
 * Logs one line per request: method, path without the query, status, duration and request id.
 * Bodies and headers are never logged because they carry secrets.
 */
export function logRequestCompleted(
  request: FastifyRequest,
  reply: FastifyReply,
  done: () => void,
): void {
  done();
  const path = request.url.split('?', 1)[0];
  const fields = {
    method: request.method,
    path,
    statusCode: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
  };
  if (reply.statusCode >= 500) request.log.error(fields, 'request completed');
  else request.log.info(fields, 'request completed');
}
