/**
 * Named locks shared by every replica: PostgreSQL session-level advisory locks, keyed by a fixed
 * class number and the hash of the name (two names sharing a hash only make one of them wait or
 * skip a turn, never run together). The lock lives as long as the connection that took it: work
 * runs while that connection is held, and a replica that dies mid-work loses its connection and so
 * its locks, which others then take.
 */
import type pg from 'pg';
import type { LockOutcome, WorkLocks } from '../../schemas/ports/work-locks.ts';
import { translatePostgresError, type PostgresDatabase } from './postgres-database.ts';

/** The advisory-lock class of modelhub's work locks ("mhwl"); migrations use a 64-bit key of their own. */
const WORK_LOCK_CLASS = 0x6d68776c;

export class PostgresWorkLocks implements WorkLocks {
  readonly kind = 'postgres' as const;

  private constructor(private readonly db: PostgresDatabase) {}

  static open(db: PostgresDatabase): PostgresWorkLocks {
    return new PostgresWorkLocks(db.share());
  }

  async tryWithLock<T>(name: string, work: () => Promise<T>): Promise<LockOutcome<T>> {
    return this.holding<LockOutcome<T>>(name, 'pg_try_advisory_lock', async () => ({ ran: true, value: await work() }), { ran: false });
  }

  async withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.holding(name, 'pg_advisory_lock', work, undefined as never);
  }

  private async holding<T>(name: string, take: 'pg_try_advisory_lock' | 'pg_advisory_lock', work: () => Promise<T>, refused: T): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.db.pool.connect();
    } catch (error) {
      throw translatePostgresError(error, 'work lock');
    }
    let broken = false;
    // A connection that dies while held (the database restarted) reports here, not on the pool.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      let taken: boolean;
      try {
        if (take === 'pg_try_advisory_lock') {
          taken = (await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS taken', [WORK_LOCK_CLASS, name])).rows[0]!.taken;
        } else {
          await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [WORK_LOCK_CLASS, name]);
          taken = true;
        }
      } catch (error) {
        broken = true;
        throw translatePostgresError(error, 'work lock');
      }
      if (!taken) return refused;
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [WORK_LOCK_CLASS, name]).catch(() => {
          broken = true; // the connection is closed below, which releases the lock anyway
        });
      }
    } finally {
      client.off('error', onError);
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
