/** Actions in PostgreSQL pass the same contract as the embedded store, each test on a fresh schema. */
import { PostgresActionStore } from '../../hub-server/adapters/postgres-action-store.ts';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeActionStoreContract } from './action-store-contract.ts';

async function openStore(url: string): Promise<PostgresActionStore> {
  const db = PostgresDatabase.open(url);
  try {
    return await PostgresActionStore.open(db);
  } finally {
    await db.close(); // the store holds its own share of the pool
  }
}

describePostgres('PostgresActionStore', () => {
  describeActionStoreContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    return {
      store: await openStore(url),
      cleanup: drop,
      reopen: async (store) => {
        await store.close();
        return openStore(url);
      },
    };
  });
});
