/** In-process work locks (the single hub's) pass the work-locks contract. */
import { MemoryWorkLocks } from '../../hub-server/adapters/memory-work-locks.ts';
import { describeWorkLocksContract } from './work-locks-contract.ts';

describeWorkLocksContract('memory', async () => {
  const locks = new MemoryWorkLocks();
  return { first: locks, second: locks, cleanup: async () => undefined };
});
