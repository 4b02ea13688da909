/** The single hub's in-memory rate-limit buckets pass the rate-limit contract. */
import { MemoryRateLimitCounter } from '../../hub-server/adapters/memory-rate-limit-counter.ts';
import { describeRateLimitCounterContract } from './rate-limit-counter-contract.ts';

describeRateLimitCounterContract(
  'memory',
  async () => ({ counter: async (perMinute, now) => new MemoryRateLimitCounter(perMinute, now), cleanup: async () => undefined }),
  { shared: false },
);
