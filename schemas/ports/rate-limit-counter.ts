/**
 * Rate-limit counters: a token bucket per key (a token, a user, a client address) holding a
 * minute's worth of requests and refilled continuously. In memory for a single hub; in PostgreSQL
 * when replicas share the catalogue, so that a limit holds across every replica behind the load
 * balancer rather than per replica.
 */
export interface RateLimitDecision {
  /** 0 when the request may go ahead; else the whole seconds until one would be allowed (at least 1). */
  retryAfter: number;
  /** Requests left in the bucket after this one. */
  remaining: number;
}

export interface RateLimitCounter {
  readonly kind: 'memory' | 'postgres';
  /** Takes one request from `key`'s bucket. */
  take(key: string): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

/** The decision for a bucket holding `tokens` after the take, at `perMinute` (shared by the adapters). */
export function decisionOf(allowed: boolean, tokens: number, perMinute: number): RateLimitDecision {
  if (allowed) return { retryAfter: 0, remaining: Math.floor(tokens) };
  return { retryAfter: Math.max(1, Math.ceil(((1 - tokens) * 60_000) / perMinute / 1000)), remaining: 0 };
}
