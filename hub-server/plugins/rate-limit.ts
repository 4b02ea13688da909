/**
 * Per-token rate limits (MODELHUB_RATE_LIMIT_PER_MINUTE, 0 = off): a token bucket per token, or
 * per client address for anonymous callers, holding a minute's worth of requests and refilled
 * continuously (in memory; in PostgreSQL mode in the database, shared by every replica). Over the limit: 429 MODELHUB_RATE_LIMITED with Retry-After. Health probes, metrics
 * and the API docs are not counted. Runs after `identity`, which decides whose bucket it is.
 *
 * Hand-written rather than @fastify/rate-limit because the key must be the verified token, which
 * is only known after identity's hook, and that package is not among the installed dependencies.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError } from '../../schemas/errors.ts';

// The in-memory buckets moved to their adapter; re-exported for the code and tests that name them here.
export { TokenBuckets } from '../adapters/memory-rate-limit-counter.ts';

const UNCOUNTED = [/^\/v2\/health\//, /^\/metrics(\?|$)/, /^\/docs(\/|\?|$)/];

export const rateLimitKey = (request: FastifyRequest): string => (request.token ? `token:${request.token.id}` : request.viewer?.user ? `user:${request.viewer.user}` : `ip:${request.ip}`);

async function rateLimit(app: FastifyInstance): Promise<void> {
  const perMinute = app.hub.config.rateLimitPerMinute;
  if (perMinute <= 0) return;
  // In PostgreSQL mode the buckets are shared by every replica (the limit holds across them).
  const buckets = app.hub.rateLimits;
  if (!buckets) return;
  app.addHook('onRequest', async (request, reply) => {
    if (UNCOUNTED.some((pattern) => pattern.test(request.url))) return;
    const { retryAfter, remaining } = await buckets.take(rateLimitKey(request));
    reply.header('ratelimit-limit', String(perMinute));
    reply.header('ratelimit-remaining', String(remaining));
    if (retryAfter > 0) {
      throw new HubError('RATE_LIMITED', `more than ${perMinute} requests a minute (MODELHUB_RATE_LIMIT_PER_MINUTE); retry in ${retryAfter} s`, { retryAfter });
    }
  });
}

export default fp(rateLimit, { name: 'rate-limit', dependencies: ['hub-services', 'identity'], fastify: '5.x' });
