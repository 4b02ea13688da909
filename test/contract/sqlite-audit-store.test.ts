/** The embedded audit log (a SQLite file in a temporary folder) passes the audit-store contract. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteAuditStore } from '../../hub-server/adapters/sqlite-audit-store.ts';
import { describeAuditStoreContract } from './audit-store-contract.ts';

describeAuditStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelhub-audit-'));
  return {
    open: async () => SqliteAuditStore.open(SqliteAuditStore.fileIn(dir)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
