/**
 * The contract every RateLimitCounter adapter passes: a minute's worth at once, then a continuous
 * refill; keys apart; Retry-After at slow rates. `makeCounter(perMinute, now)` gives a counter on
 * empty storage reading the test's clock; `second` (where the adapter shares storage) another
 * counter on the same storage, as a second replica would have.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimitCounter } from '../../schemas/ports/rate-limit-counter.ts';

export interface RateLimitStorage {
  counter: (perMinute: number, now: () => number) => Promise<RateLimitCounter>;
  cleanup: () => Promise<void>;
}

export function describeRateLimitCounterContract(adapter: string, makeStorage: () => Promise<RateLimitStorage>, options: { shared: boolean }): void {
  describe(`RateLimitCounter contract (${adapter})`, () => {
    const opened: RateLimitCounter[] = [];
    let cleanup: (() => Promise<void>) | undefined;
    const storage = async () => {
      const made = await makeStorage();
      cleanup = made.cleanup;
      return async (perMinute: number, now: () => number) => {
        const counter = await made.counter(perMinute, now);
        opened.push(counter);
        return counter;
      };
    };
    afterEach(async () => {
      for (const counter of opened.splice(0)) await counter.close();
      await cleanup?.();
    });

    it("allows a minute's worth at once, then refills continuously", async () => {
      let now = 1_000_000;
      const buckets = await (await storage())(60, () => now);
      for (let i = 0; i < 60; i++) expect((await buckets.take('a')).retryAfter).toBe(0);
      expect(await buckets.take('a')).toEqual({ retryAfter: 1, remaining: 0 });
      expect((await buckets.take('b')).retryAfter).toBe(0);
      now += 1000; // one more request a second at 60 a minute
      expect((await buckets.take('a')).retryAfter).toBe(0);
      expect((await buckets.take('a')).retryAfter).toBe(1);
      now += 60_000;
      expect((await buckets.take('a')).remaining).toBe(59);
    });

    it('says how long to wait at slow rates', async () => {
      let now = 1_000_000;
      const buckets = await (await storage())(2, () => now);
      await buckets.take('k');
      await buckets.take('k');
      expect((await buckets.take('k')).retryAfter).toBe(30);
      now += 29_000;
      expect((await buckets.take('k')).retryAfter).toBe(1);
      now += 1_000;
      expect((await buckets.take('k')).retryAfter).toBe(0);
    });

    it.runIf(options.shared)('two replicas take from one bucket: the limit holds across them, also under concurrent takes', async () => {
      const now = () => 1_000_000;
      const open = await storage();
      const first = await open(50, now);
      const second = await open(50, now);
      const decisions = await Promise.all(Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? first : second).take('token:shared')));
      expect(decisions.filter((d) => d.retryAfter === 0)).toHaveLength(50);
      expect(decisions.filter((d) => d.retryAfter > 0)).toHaveLength(30);
      expect((await second.take('token:other')).retryAfter).toBe(0);
    });
  });
}
