/**
 * Replicas sharing one blob store and one PostgreSQL registry: a sweep on one replica never
 * removes a blob another replica's running publish has stored (the shared task table names it),
 * and removes it once that publish has ended without a version naming it. `modelhub gc` and
 * `modelhub reindex` work in PostgreSQL mode, beside running replicas.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FsBlobStore } from '../../hub-server/adapters/fs-blob-store.ts';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresRegistry } from '../../hub-server/adapters/postgres-registry.ts';
import { PostgresWorkLocks } from '../../hub-server/adapters/postgres-work-locks.ts';
import { LeftoverSweeper, sweepBlobs } from '../../hub-server/use-cases/leftover-sweeper.ts';
import type { TaskDocument } from '../../schemas/api.ts';
import { ROOT } from '../helpers/test-hub.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { publishedDocument } from './metadata-fixtures.ts';

const runningTask = (taskId: string): TaskDocument => ({
  task_id: taskId,
  kind: 'publish',
  status: 'RUNNING',
  servable: 'alice/model',
  version: 2,
  steps: [],
  log: [],
  created_at: new Date().toISOString(),
});

describePostgres('replicas sharing blobs: the sweep and modelhub gc / reindex in PostgreSQL mode', () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let root: string;
  let blobs: FsBlobStore;
  const registries: PostgresRegistry[] = [];
  const openRegistry = async () => {
    const db = PostgresDatabase.open(schema.url);
    const registry = await PostgresRegistry.open(db);
    await db.close();
    registries.push(registry);
    return registry;
  };

  beforeEach(async () => {
    schema = await freshSchema();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-shared-sweep-'));
    blobs = new FsBlobStore(path.join(root, 'blobs'));
  });
  afterEach(async () => {
    for (const registry of registries.splice(0)) await registry.close();
    await blobs.close();
    fs.rmSync(root, { recursive: true, force: true });
    await schema.drop();
  });

  it("keeps what another replica's running publish stored, and removes it once that publish failed", async () => {
    const publishing = await openRegistry();
    const sweeping = await openRegistry();
    const version = await publishing.reserveVersion('alice', 'model');
    const referenced = await blobs.put(Buffer.from('the model of a published version'));
    const document = publishedDocument({ owner: 'alice', name: 'model', version, title: 'A model' });
    await publishing.commitVersion({ ...document, hub: { ...document.hub, files: [{ path: 'm.onnx', sha256: referenced.sha256, size: referenced.size }] } });
    const orphan = await blobs.put(Buffer.from('stored by a publish that died long ago'));
    // Replica one is publishing: it stored a blob and recorded it against its running task.
    await publishing.createTask(runningTask('task-running'));
    const writing = await blobs.put(Buffer.from('stored by a publish still running on replica one'));
    await publishing.recordTaskBlobs('task-running', [writing.sha256]);
    expect(await sweeping.blobsOfRunningTasks()).toEqual(new Set([writing.sha256]));

    // Replica two sweeps with no grace at all: only the orphan goes.
    const first = await sweepBlobs({ blobs, registry: sweeping, graceMs: 0 });
    expect(first.removed.map((blob) => blob.sha256)).toEqual([orphan.sha256]);
    expect(await blobs.has(writing.sha256)).toBe(true);
    expect(await blobs.has(referenced.sha256)).toBe(true);

    // The publish fails (or its replica's task is settled as FAILED): its blob is a leftover now.
    await publishing.updateTask('task-running', { status: 'FAILED' });
    const second = await sweepBlobs({ blobs, registry: sweeping, graceMs: 0 });
    expect(second.removed.map((blob) => blob.sha256)).toEqual([writing.sha256]);
    expect(await sweeping.blobsOfRunningTasks()).toEqual(new Set());
    expect(await blobs.has(referenced.sha256)).toBe(true);
  });

  it('sweeps the shared blobs one replica at a time', async () => {
    const registry = await openRegistry();
    await blobs.put(Buffer.from('an orphan'));
    const db = PostgresDatabase.open(schema.url);
    const holder = PostgresWorkLocks.open(db);
    const locks = PostgresWorkLocks.open(db);
    await db.close();
    const reports: unknown[] = [];
    const sweeper = new LeftoverSweeper({
      uploadsDir: path.join(root, 'uploads'),
      blobs,
      registry,
      graceMs: 0,
      intervalMs: 3_600_000,
      locks,
      log: (report) => reports.push(report),
      onError: (error) => reports.push(error),
    });
    try {
      // While another replica sweeps, this one skips its turn and removes nothing.
      let release!: () => void;
      let held!: () => void;
      const isHeld = new Promise<void>((resolve) => (held = resolve));
      const other = holder.withLock('sweep blobs', () => {
        held();
        return new Promise<void>((resolve) => (release = resolve));
      });
      await isHeld;
      expect((await sweeper.sweep())?.blobs).toEqual([]);
      release();
      await other;
      expect((await sweeper.sweep())?.blobs).toHaveLength(1);
    } finally {
      await sweeper.stop();
      await holder.close();
      await locks.close();
    }
  });

  it('modelhub gc removes orphans but keeps running publishes\' blobs, and modelhub reindex fills the PostgreSQL index, beside replicas', async () => {
    const registry = await openRegistry();
    const version = await registry.reserveVersion('alice', 'model');
    const referenced = await blobs.put(Buffer.from('the model of a published version'));
    const document = publishedDocument({ owner: 'alice', name: 'model', version, title: 'A reindexed model' });
    await registry.commitVersion({ ...document, hub: { ...document.hub, files: [{ path: 'm.onnx', sha256: referenced.sha256, size: referenced.size }] } });
    const orphan = await blobs.put(Buffer.from('an orphan'));
    await registry.createTask(runningTask('task-elsewhere'));
    const writing = await blobs.put(Buffer.from('a running publish on another replica'));
    await registry.recordTaskBlobs('task-elsewhere', [writing.sha256]);
    fs.writeFileSync(path.join(root, 'instance-id'), 'replica1');

    const env = { ...process.env, MODELHUB_DATABASE_URL: schema.url, MODELHUB_SEARCH: 'postgres', MODELHUB_DATA: root };
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', ...args], { env });
    const gc = JSON.parse((await cli('gc', '--grace', '0')).stdout) as { blobs: { sha256: string }[]; blobs_removed: boolean };
    expect(gc.blobs.map((blob) => blob.sha256)).toEqual([orphan.sha256]);
    expect(gc.blobs_removed).toBe(true);
    expect(await blobs.has(orphan.sha256)).toBe(false);
    expect(await blobs.has(writing.sha256)).toBe(true);
    expect(await blobs.has(referenced.sha256)).toBe(true);

    expect(JSON.parse((await cli('reindex')).stdout)).toEqual({ indexed: 1, backend: 'postgres' });
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      expect((await client.query('SELECT owner, name, version FROM search_docs')).rows).toEqual([{ owner: 'alice', name: 'model', version: 1 }]);
    } finally {
      await client.end();
    }
  });
});
