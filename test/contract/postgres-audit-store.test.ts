/**
 * The PostgreSQL audit log passes the same contract as the SQLite one, each test on a fresh schema;
 * and what two replicas record lands in one log that both list alike.
 */
import { expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresAuditStore } from '../../hub-server/adapters/postgres-audit-store.ts';
import { AuditLog } from '../../hub-server/adapters/audit-log.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeAuditStoreContract } from './audit-store-contract.ts';

async function openStore(url: string): Promise<PostgresAuditStore> {
  const db = PostgresDatabase.open(url);
  try {
    return await PostgresAuditStore.open(db);
  } finally {
    await db.close(); // the store holds its own share of the pool
  }
}

describePostgres('PostgresAuditStore', () => {
  describeAuditStoreContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    return { open: () => openStore(url), cleanup: drop };
  });

  it('two replicas (two pools) write one log, listed alike by both', async () => {
    const { url, drop } = await freshSchema();
    try {
      const first = new AuditLog(await openStore(url));
      const second = new AuditLog(await openStore(url));
      first.record({ action: 'publish', actor: 'alice', target: 'alice/m@1' });
      await first.list();
      second.record({ action: 'withdraw', actor: 'alice', target: 'alice/m@1' });
      const seen = (await second.list()).map((e) => `${e.action} ${e.target}`);
      expect(seen).toEqual(['withdraw alice/m@1', 'publish alice/m@1']);
      expect((await first.list()).map((e) => `${e.action} ${e.target}`)).toEqual(seen);
      await first.close();
      await second.close();
    } finally {
      await drop();
    }
  });
});
