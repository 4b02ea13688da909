/** Named locks within one process: the single hub's WorkLocks. */
import type { LockOutcome, WorkLocks } from '../../schemas/ports/work-locks.ts';

export class MemoryWorkLocks implements WorkLocks {
  readonly kind = 'memory' as const;
  /** Per held name, the end of the last work queued on it. */
  private readonly tails = new Map<string, Promise<void>>();

  async tryWithLock<T>(name: string, work: () => Promise<T>): Promise<LockOutcome<T>> {
    if (this.tails.has(name)) return { ran: false };
    return { ran: true, value: await this.withLock(name, work) };
  }

  async withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.tails.set(name, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }

  async close(): Promise<void> {}
}
