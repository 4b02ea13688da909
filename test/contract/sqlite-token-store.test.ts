import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { describeTokenStoreContract } from './token-store-contract.ts';

describeTokenStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-token-store-'));
  return { store: SqliteTokenStore.open(path.join(dir, 'tokens.db')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
