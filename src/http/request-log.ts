/**
 * Fastify's request log lines, with stream tokens taken out of the URL. A media URL carries its
 * one-time token (Telnyx in the path, older URLs in ?token=); a log line is no place for a
 * credential, even a spent one.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { redactStreamTokens } from './security/stream-tokens.js';

function reqFields(request: FastifyRequest) {
  return { method: request.method, url: redactStreamTokens(request.url), host: request.host, remoteAddress: request.ip, remotePort: request.socket.remotePort };
}

export class RedactingLogController extends LogController {
  override incomingRequest(request: FastifyRequest, _reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    request.log.info({ req: reqFields(request) }, 'incoming request');
  }

  override routeNotFound(request: FastifyRequest, _reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    request.log.info(`Route ${request.method}:${redactStreamTokens(request.url)} not found`);
  }

  override writeHeadError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    reply.log.warn({ req: reqFields(request), res: { statusCode: reply.statusCode }, err: error }, error.message);
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (reply.statusCode >= 500) reply.log.error({ req: reqFields(request), res: { statusCode: reply.statusCode }, err: error }, error.message);
    else reply.log.info({ res: { statusCode: reply.statusCode }, err: error }, error.message);
  }
}
