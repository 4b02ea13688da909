/** The PostgreSQL endpoint, run and reproducibility stores pass the same contracts as their SQLite twins, each test on a fresh schema. */
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresEndpointStore } from '../../hub-server/adapters/postgres-endpoint-store.ts';
import { PostgresReproducibilityStore } from '../../hub-server/adapters/postgres-reproducibility-store.ts';
import { PostgresRunStore } from '../../hub-server/adapters/postgres-run-store.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeEndpointStoreContract, describeReproducibilityStoreContract, describeRunStoreContract } from './replica-stores-contract.ts';

async function onFreshSchema<T>(open: (db: PostgresDatabase) => Promise<T>): Promise<{ store: T; cleanup: () => Promise<void> }> {
  const { url, drop } = await freshSchema();
  const db = PostgresDatabase.open(url);
  const store = await open(db);
  await db.close(); // the store holds its own share of the pool
  return { store, cleanup: drop };
}

describePostgres('PostgreSQL endpoint, run and reproducibility stores', () => {
  describeEndpointStoreContract('postgres', () => onFreshSchema((db) => PostgresEndpointStore.open(db)));
  describeRunStoreContract('postgres', () => onFreshSchema((db) => PostgresRunStore.open(db)));
  describeReproducibilityStoreContract('postgres', () => onFreshSchema((db) => PostgresReproducibilityStore.open(db)));
});
