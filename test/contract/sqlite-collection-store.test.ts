import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SqliteCollectionStore } from '../../hub-server/adapters/sqlite-collection-store.ts';
import { describeCollectionStoreContract } from './collection-store-contract.ts';

describeCollectionStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-collection-store-'));
  return { store: SqliteCollectionStore.open(SqliteCollectionStore.fileIn(dir)), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
