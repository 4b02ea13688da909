/**
 * Per-token rate limits (MODELHUB_RATE_LIMIT_PER_MINUTE, 0 = off): a token bucket per token, or
 * per client address for anonymous callers, holding a minute's worth of requests and refilled
 * continuously. Over the limit: 429 MODELHUB_RATE_LIMITED with Retry-After. Health probes, metrics
 * and the API docs are not counted. Runs after `identity`, which decides whose bucket it is.
 *
 * Hand-written rather than @fastify/rate-limit because the key must be the verified token, which
 * is only known after identity's hook, and that package is not among the installed dependencies.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { HubError } from '../../schemas/errors.ts';

interface Bucket {
  tokens: number;
  updated: number;
}

export class TokenBuckets {
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly perMs: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.perMs = perMinute / 60_000;
    // A forgotten bucket is a full one, so evicting idle keys never lets anyone exceed the limit
    // by more than one minute's allowance.
    this.buckets = new LRUCache({ max: 100_000 });
  }

  /** Takes one request from key's bucket: 0 if allowed, else the seconds until one is allowed. */
  take(key: string): { retryAfter: number; remaining: number } {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updated: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updated) * this.perMs);
    bucket.updated = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { retryAfter: 0, remaining: Math.floor(bucket.tokens) };
    }
    return { retryAfter: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)), remaining: 0 };
  }
}

const UNCOUNTED = [/^\/v2\/health\//, /^\/metrics(\?|$)/, /^\/docs(\/|\?|$)/];

export const rateLimitKey = (request: FastifyRequest): string => (request.token ? `token:${request.token.id}` : request.viewer?.user ? `user:${request.viewer.user}` : `ip:${request.ip}`);

async function rateLimit(app: FastifyInstance): Promise<void> {
  const perMinute = app.hub.config.rateLimitPerMinute;
  if (perMinute <= 0) return;
  const buckets = new TokenBuckets(perMinute);
  app.addHook('onRequest', async (request, reply) => {
    if (UNCOUNTED.some((pattern) => pattern.test(request.url))) return;
    const { retryAfter, remaining } = buckets.take(rateLimitKey(request));
    reply.header('ratelimit-limit', String(perMinute));
    reply.header('ratelimit-remaining', String(remaining));
    if (retryAfter > 0) {
      throw new HubError('RATE_LIMITED', `more than ${perMinute} requests a minute (MODELHUB_RATE_LIMIT_PER_MINUTE); retry in ${retryAfter} s`, { retryAfter });
    }
  });
}

export default fp(rateLimit, { name: 'rate-limit', dependencies: ['hub-services', 'identity'], fastify: '5.x' });
