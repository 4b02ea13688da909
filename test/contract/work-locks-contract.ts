/**
 * The contract every WorkLocks adapter passes: one holder at a time per name (a second try skips,
 * a second wait runs after), names apart, the lock free again after work that throws.
 * `makeLocks` gives two lock handles on one storage, as two replicas would hold.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkLocks } from '../../schemas/ports/work-locks.ts';

export type MakeWorkLocks = () => Promise<{ first: WorkLocks; second: WorkLocks; cleanup: () => Promise<void> }>;

export function describeWorkLocksContract(adapter: string, makeLocks: MakeWorkLocks): void {
  describe(`WorkLocks contract (${adapter})`, () => {
    let made: Awaited<ReturnType<MakeWorkLocks>> | undefined;
    afterEach(async () => {
      await made?.first.close();
      await made?.second.close();
      await made?.cleanup();
      made = undefined;
    });

    it('lets one holder work at a time: a try while it holds skips, a wait runs after it', async () => {
      made = await makeLocks();
      const { first, second } = made;
      const order: string[] = [];
      let finishFirst!: () => void;
      const held = new Promise<void>((resolve) => (finishFirst = resolve));
      let started!: () => void;
      const hasStarted = new Promise<void>((resolve) => (started = resolve));
      const firstWork = first.withLock('identifier alice/m', async () => {
        order.push('first begins');
        started();
        await held;
        order.push('first ends');
        return 1;
      });
      await hasStarted;
      expect(await second.tryWithLock('identifier alice/m', async () => order.push('second tried'))).toEqual({ ran: false });
      // Another name is free.
      expect(await second.tryWithLock('identifier bob/m', async () => 'other')).toEqual({ ran: true, value: 'other' });
      const waiting = second.withLock('identifier alice/m', async () => {
        order.push('second waited');
        return 2;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(order).toEqual(['first begins']);
      finishFirst();
      expect(await firstWork).toBe(1);
      expect(await waiting).toBe(2);
      expect(order).toEqual(['first begins', 'first ends', 'second waited']);
    });

    it('frees the lock when the work throws', async () => {
      made = await makeLocks();
      const { first, second } = made;
      await expect(first.withLock('sweep', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await second.tryWithLock('sweep', async () => 'mine')).toEqual({ ran: true, value: 'mine' });
      await expect(first.tryWithLock('sweep', async () => Promise.reject(new Error('again')))).rejects.toThrow('again');
      expect(await first.tryWithLock('sweep', async () => 'free')).toEqual({ ran: true, value: 'free' });
    });
  });
}
