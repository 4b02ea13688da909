/**
 * The PostgreSQL registry passes the same contract as the SQLite one, each test on a fresh schema,
 * and hands out distinct numbers to several processes (replicas) reserving at once.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresRegistry } from '../../hub-server/adapters/postgres-registry.ts';
import { describePostgres, freshSchema, testDatabaseUrl } from '../helpers/postgres.ts';
import { describeRegistryContract } from './registry-contract.ts';

async function openRegistry(url: string): Promise<PostgresRegistry> {
  const db = PostgresDatabase.open(url);
  try {
    return await PostgresRegistry.open(db);
  } finally {
    await db.close(); // the registry holds its own share of the pool
  }
}

if (testDatabaseUrl) {
  describeRegistryContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    return {
      registry: await openRegistry(url),
      cleanup: drop,
      reopen: async (registry) => {
        await registry.close();
        return openRegistry(url);
      },
    };
  });
}

describePostgres('PostgresRegistry across processes', () => {
  it('hands out distinct numbers to several processes reserving at once', async () => {
    const { url, drop } = await freshSchema();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-pg-registry-'));
    try {
      await (await openRegistry(url)).close();
      const script = path.join(dir, 'reserve.mts');
      await writeFile(
        script,
        `import { PostgresDatabase } from ${JSON.stringify(path.resolve('hub-server/adapters/postgres-database.ts'))};
         import { PostgresRegistry } from ${JSON.stringify(path.resolve('hub-server/adapters/postgres-registry.ts'))};
         const registry = await PostgresRegistry.open(PostgresDatabase.open(process.argv[2]));
         await new Promise((resolve) => setTimeout(resolve, Number(process.argv[3]) - Date.now()));
         const numbers = await Promise.all(Array.from({ length: 100 }, () => registry.reserveVersion('alice', 'contended')));
         await registry.close();
         console.log(JSON.stringify(numbers));`,
      );
      const run = promisify(execFile);
      const workers = 3;
      const startAt = String(Date.now() + 5000);
      const outputs = await Promise.all(
        Array.from({ length: workers }, () => run(process.execPath, ['--import', 'tsx', script, url, startAt], { cwd: process.cwd() })),
      );
      const numbers = outputs.flatMap((output) => JSON.parse(output.stdout.trim()) as number[]);
      expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: workers * 100 }, (_, i) => i + 1));
    } finally {
      await rm(dir, { recursive: true, force: true });
      await drop();
    }
  });
});
