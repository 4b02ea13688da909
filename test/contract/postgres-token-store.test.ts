/** The PostgreSQL token store passes the same contract as the SQLite one, each test on a fresh schema. */
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresTokenStore } from '../../hub-server/adapters/postgres-token-store.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeTokenStoreContract } from './token-store-contract.ts';

describePostgres('PostgresTokenStore', () => {
  describeTokenStoreContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    const db = PostgresDatabase.open(url);
    const store = await PostgresTokenStore.open(db);
    await db.close(); // the store holds its own share of the pool
    return { store, cleanup: drop };
  });
});
