/**
 * Gives the fastify app its hub: `app.hub` is what the composition root opened for the
 * configuration (hub-server/composition-root.ts); it starts when the app is ready and closes with it.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { HubConfig } from '../config.ts';
import { openHub, type Hub } from '../composition-root.ts';

/** What routes see as `app.hub`. */
export type HubServices = Hub;

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub;
  }
}

async function hubServices(app: FastifyInstance, opts: { config: HubConfig }): Promise<void> {
  const hub = await openHub(opts.config, app.log);
  app.decorate('hub', hub);
  app.addHook('onReady', async () => hub.start());
  app.addHook('onClose', async () => hub.close());
}

export default fp(hubServices, { name: 'hub-services', fastify: '5.x' });
