/**
 * Who is calling. Every request gets `request.viewer` before its handler runs; routes ask
 * `requirePublisher` / `requireReader` rather than reading headers themselves. With
 * MODELHUB_AUTH=open (a laptop) anonymous callers may publish, as the owner they name.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import type { Viewer } from '../ports/search-index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
  }
  interface FastifyInstance {
    /** Resolve the caller of a request (used by plugins registered outside this one's hooks). */
    identify(request: FastifyRequest): Promise<Viewer>;
    /** Throws 401/403 unless the caller may publish as (and withdraw servables of) `owner`. */
    requirePublisher(request: FastifyRequest, owner: string): void;
    /** Throws 401 unless the caller may read (anonymous reading can be switched off). */
    requireReader(request: FastifyRequest): void;
  }
}

/** Resolves a bearer token to a viewer; replaced by the token store when MODELHUB_AUTH=tokens. */
export type TokenResolver = (token: string) => Promise<Viewer | undefined>;

async function identity(app: FastifyInstance, opts: { resolveToken?: TokenResolver }): Promise<void> {
  const config = app.hub.config;
  const identify = async (request: FastifyRequest): Promise<Viewer> => {
    const header = request.headers.authorization;
    if (!header) return {};
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new HubError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
    if (!opts.resolveToken) {
      if (config.auth === 'open') return {};
      throw new HubError('UNAUTHENTICATED', 'tokens are not configured on this hub');
    }
    const viewer = await opts.resolveToken(match[1]!);
    if (!viewer) throw new HubError('UNAUTHENTICATED', 'the token is unknown, expired or revoked');
    return viewer;
  };
  app.decorateRequest('viewer', null as unknown as Viewer);
  app.decorate('identify', identify);
  app.addHook('onRequest', async (request) => {
    request.viewer = await identify(request);
  });
  app.decorate('requirePublisher', (request: FastifyRequest, owner: string) => {
    const viewer = request.viewer;
    if (config.auth === 'open' && viewer.user === undefined) return;
    if (viewer.user === undefined) throw new HubError('UNAUTHENTICATED', 'publishing needs a token with the publish scope');
    if (!viewer.admin && viewer.user !== owner) throw new HubError('FORBIDDEN', `${viewer.user} may not publish or withdraw servables of ${owner}`);
  });
  app.decorate('requireReader', (request: FastifyRequest) => {
    if (!config.anonymousRead && request.viewer.user === undefined) {
      throw new HubError('UNAUTHENTICATED', 'this hub does not allow anonymous reading');
    }
  });
}

export default fp(identity, { name: 'identity', dependencies: ['hub-services'], fastify: '5.x' });
