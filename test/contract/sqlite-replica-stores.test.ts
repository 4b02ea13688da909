/** The embedded endpoint, run and reproducibility stores pass their contracts, each test on a fresh file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteEndpointStore } from '../../hub-server/adapters/sqlite-endpoint-store.ts';
import { SqliteReproducibilityStore } from '../../hub-server/adapters/sqlite-reproducibility-store.ts';
import { SqliteRunStore } from '../../hub-server/adapters/sqlite-run-store.ts';
import { describeEndpointStoreContract, describeReproducibilityStoreContract, describeRunStoreContract } from './replica-stores-contract.ts';

function inTempFolder<T>(open: (dir: string) => T): Promise<{ store: T; cleanup: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-store-'));
  return Promise.resolve({ store: open(dir), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) });
}

describeEndpointStoreContract('sqlite', () => inTempFolder((dir) => SqliteEndpointStore.open(SqliteEndpointStore.fileIn(dir))));
describeRunStoreContract('sqlite', () => inTempFolder((dir) => SqliteRunStore.open(SqliteRunStore.fileIn(dir))));
describeReproducibilityStoreContract('sqlite', () => inTempFolder((dir) => SqliteReproducibilityStore.open(SqliteReproducibilityStore.fileIn(dir))));
