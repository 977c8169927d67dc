import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  // Liveness: the process answers. Nothing else is checked, so a busy gateway is not restarted.
  app.get('/health', async () => ({ status: 'ok' }));

  // Readiness: take new calls only when workers are up (with Silero: the model loaded) and we are not draining.
  app.get('/ready', async (_request, reply) => {
    const workers = ctx.isReady?.() ?? true;
    const draining = ctx.calls.draining;
    const ready = workers && !draining;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', workers, draining, calls: ctx.calls.size });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = ctx.metricsText ? await ctx.metricsText() : await ctx.metrics.registry.metrics();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(body);
  });
}
