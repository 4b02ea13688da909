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
  it('settles at start-up only the tasks of replicas that stopped, never those a live replica runs', async () => {
    const { url, drop } = await freshSchema();
    const live = await openRegistry(url);
    const starting = await openRegistry(url);
    try {
      const running = (id: string) => ({ task_id: id, kind: 'run' as const, status: 'RUNNING' as const, created_at: new Date().toISOString() });
      await live.createTask(running('on-a-live-replica'));
      await live.createTask(running('on-a-killed-replica'));
      // A replica killed with SIGKILL: its heartbeat stopped long ago and its row stayed behind.
      const db = PostgresDatabase.open(url);
      await db.query(`INSERT INTO registry_replicas (replica_id, last_seen) VALUES ('killed', now() - interval '1 hour')`);
      await db.query(`UPDATE tasks SET replica_id = 'killed' WHERE task_id = 'on-a-killed-replica'`);
      await db.close();

      expect(await starting.settleInterruptedTasks('its replica stopped')).toEqual({ failed: 1, committed: [] });
      expect((await starting.getTask('on-a-killed-replica'))?.status).toBe('FAILED');
      expect((await starting.getTask('on-a-live-replica'))?.status).toBe('RUNNING');
      // Once the live replica stops cleanly, the next start settles its tasks at once.
      await live.close();
      expect((await starting.settleInterruptedTasks('its replica stopped')).failed).toBe(1);
      expect((await starting.getTask('on-a-live-replica'))?.status).toBe('FAILED');
    } finally {
      await starting.close();
      await live.close().catch(() => undefined);
      await drop();
    }
  });

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
