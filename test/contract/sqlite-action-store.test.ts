/** The embedded action store (SQLite in the data folder) passes the action-store contract. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SqliteActionStore } from '../../hub-server/adapters/sqlite-action-store.ts';
import { describeActionStoreContract } from './action-store-contract.ts';

describeActionStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-actions-'));
  return {
    store: new SqliteActionStore(dir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
    reopen: async (store) => {
      await store.close();
      return new SqliteActionStore(dir);
    },
  };
});
