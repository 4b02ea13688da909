/** The PostgreSQL collection store passes the same contract as the SQLite one, each test on a fresh schema. */
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresCollectionStore } from '../../hub-server/adapters/postgres-collection-store.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeCollectionStoreContract } from './collection-store-contract.ts';

describePostgres('PostgresCollectionStore', () => {
  describeCollectionStoreContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    const db = PostgresDatabase.open(url);
    const store = await PostgresCollectionStore.open(db);
    await db.close(); // the store holds its own share of the pool
    return { store, cleanup: drop };
  });
});
