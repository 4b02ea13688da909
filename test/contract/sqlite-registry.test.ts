import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRegistry } from '../../hub-server/adapters/sqlite-registry.ts';
import { describeRegistryContract } from './registry-contract.ts';

describeRegistryContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-registry-'));
  const file = path.join(dir, 'registry.db');
  return {
    registry: SqliteRegistry.open(file),
    cleanup: () => rm(dir, { recursive: true, force: true }),
    reopen: async (registry) => {
      await registry.close();
      return SqliteRegistry.open(file);
    },
  };
});

describe('SqliteRegistry on disk', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('migrates a new file to the current schema with WAL', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-registry-'));
    dirs.push(dir);
    const file = path.join(dir, 'nested', 'registry.db');
    await SqliteRegistry.open(file).close();
    await SqliteRegistry.open(file).close(); // a second open finds nothing to migrate
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('hands out distinct numbers to several processes reserving at once', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-registry-'));
    dirs.push(dir);
    const file = path.join(dir, 'registry.db');
    await SqliteRegistry.open(file).close();
    const script = path.join(dir, 'reserve.mts');
    const adapter = path.resolve('hub-server/adapters/sqlite-registry.ts');
    await writeFile(
      script,
      `import { SqliteRegistry } from ${JSON.stringify(adapter)};
       const registry = SqliteRegistry.open(process.argv[2]);
       // Start together so the processes really contend for the write lock.
       await new Promise((resolve) => setTimeout(resolve, Number(process.argv[3]) - Date.now()));
       const numbers = [];
       for (let i = 0; i < 100; i += 1) numbers.push(await registry.reserveVersion('alice', 'contended'));
       await registry.close();
       console.log(JSON.stringify(numbers));`,
    );
    const run = promisify(execFile);
    const workers = 4;
    const startAt = String(Date.now() + 4000);
    const outputs = await Promise.all(
      Array.from({ length: workers }, () => run(process.execPath, ['--import', 'tsx', script, file, startAt], { cwd: process.cwd() })),
    );
    const numbers = outputs.flatMap((output) => JSON.parse(output.stdout.trim()) as number[]);
    expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: workers * 100 }, (_, i) => i + 1));
  });
});
