/**
 * PostgreSQL advisory work locks pass the work-locks contract with two pools (two replicas); a
 * holder whose connection dies (a replica killed) frees the lock for the others.
 */
import { expect, it } from 'vitest';
import pg from 'pg';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresWorkLocks } from '../../hub-server/adapters/postgres-work-locks.ts';
import { describePostgres, testDatabaseUrl } from '../helpers/postgres.ts';
import { describeWorkLocksContract } from './work-locks-contract.ts';

function openLocks(name: string): PostgresWorkLocks {
  const url = new URL(testDatabaseUrl!);
  url.searchParams.set('application_name', name);
  const db = PostgresDatabase.open(url.toString(), { applicationName: name });
  const locks = PostgresWorkLocks.open(db);
  void db.close(); // the locks hold their own share of the pool
  return locks;
}

describePostgres('PostgresWorkLocks', () => {
  // Advisory locks are per database, not per schema: each test uses names of its own.
  describeWorkLocksContract('postgres', async () => ({ first: openLocks('mh-locks-a'), second: openLocks('mh-locks-b'), cleanup: async () => undefined }));

  it('frees the lock of a holder whose connection dies (a replica killed mid-work)', async () => {
    const doomed = openLocks('mh-locks-doomed');
    const survivor = openLocks('mh-locks-survivor');
    const name = `killed ${Date.now()}`;
    let started!: () => void;
    const hasStarted = new Promise<void>((resolve) => (started = resolve));
    const never = doomed.withLock(name, async () => {
      started();
      await new Promise(() => undefined);
    });
    never.catch(() => undefined);
    await hasStarted;
    expect(await survivor.tryWithLock(name, async () => 'too early')).toEqual({ ran: false });
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mh-locks-doomed'`);
    } finally {
      await admin.end();
    }
    expect(await survivor.tryWithLock(name, async () => 'taken over')).toEqual({ ran: true, value: 'taken over' });
    await survivor.close();
  });
});
