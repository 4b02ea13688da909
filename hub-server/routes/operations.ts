/**
 * Operations: Prometheus metrics, and the hub's own health beside the v2 protocol's.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { HubError } from '../../schemas/errors.ts';
import { hidePrivateServables } from '../use-cases/gateway/metrics.ts';

export default async function operationsRoutes(app: FastifyInstance): Promise<void> {
  const { metrics, manager, cache, gateway } = app.hub;
  // Opaque ids of private servables are stable for this process, and unguessable.
  const secret = randomBytes(32);
  /** Whether an anonymous caller may see this servable version: only those are named to everyone. */
  const isPublic = async (owner: string, name: string, version: number | undefined): Promise<boolean> => {
    try {
      await gateway.describe({ owner, name, version }, {});
      return true;
    } catch (error) {
      // A withdrawn public version is still public knowledge (its tombstone says so).
      if (error instanceof HubError && error.code === 'MODELHUB_SERVABLE_WITHDRAWN') return true;
      return false;
    }
  };
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      description: 'Per-servable series name private servables only to an admin token; others see them as `private-<id>`.',
      tags: ['operations'],
      produces: ['text/plain'],
      response: { 200: Type.String() },
    },
    handler: async (request, reply) => {
      metrics.loadedServables.set(manager.listLoaded().length);
      metrics.cacheBytes.set(cache.bytes);
      reply.type(metrics.registry.contentType);
      const text = await metrics.registry.metrics();
      if (request.viewer?.admin) return text;
      return hidePrivateServables(text, isPublic, secret);
    },
  });
}
