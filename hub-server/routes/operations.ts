/**
 * Operations: Prometheus metrics, and the hub's own health beside the v2 protocol's.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

export default async function operationsRoutes(app: FastifyInstance): Promise<void> {
  const { metrics, manager, cache } = app.hub;
  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', tags: ['operations'], produces: ['text/plain'], response: { 200: Type.String() } },
    handler: async (_request, reply) => {
      metrics.loadedServables.set(manager.listLoaded().length);
      metrics.cacheBytes.set(cache.bytes);
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  });
}
