/**
 * Rate-limit buckets in this process's memory: the single hub's counters (and a PostgreSQL
 * replica's while the database does not answer).
 */
import { LRUCache } from 'lru-cache';
import { decisionOf, type RateLimitCounter, type RateLimitDecision } from '../../schemas/ports/rate-limit-counter.ts';

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
  take(key: string): RateLimitDecision {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, updated: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.updated) * this.perMs);
    bucket.updated = now;
    this.buckets.set(key, bucket);
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    return decisionOf(allowed, bucket.tokens, this.perMinute);
  }
}

export class MemoryRateLimitCounter implements RateLimitCounter {
  readonly kind = 'memory' as const;
  private readonly buckets: TokenBuckets;

  constructor(perMinute: number, now?: () => number) {
    this.buckets = new TokenBuckets(perMinute, now);
  }

  async take(key: string): Promise<RateLimitDecision> {
    return this.buckets.take(key);
  }

  async close(): Promise<void> {}
}
