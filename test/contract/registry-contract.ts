/**
 * The contract every Registry adapter passes. `makeRegistry` gives a fresh, empty registry; when it
 * also gives `reopen`, the suite checks that everything survives closing and opening it again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskDocument } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { hubErrorCode } from '../helpers/rejection.ts';
import type { Registry } from '../../schemas/ports/registry.ts';
import { publishedDocument } from './metadata-fixtures.ts';

export type MakeRegistry = () => Promise<{
  registry: Registry;
  cleanup: () => Promise<void>;
  /** Closes the given registry and opens the same store again. */
  reopen?: (registry: Registry) => Promise<Registry>;
}>;


const doc = (owner: string, name: string, version: number, extra: Partial<Parameters<typeof publishedDocument>[0]> = {}) =>
  publishedDocument({ owner, name, version, title: `${owner}/${name} v${version}`, ...extra });

async function publish(registry: Registry, owner: string, name: string, extra = {}): Promise<PublishedMetadata> {
  const version = await registry.reserveVersion(owner, name);
  const document = doc(owner, name, version, extra);
  await registry.commitVersion(document);
  return document;
}

const task = (id: string, extra: Partial<TaskDocument> = {}): TaskDocument => ({
  task_id: id,
  kind: 'publish',
  status: 'PENDING',
  created_at: new Date().toISOString(),
  ...extra,
});

export function describeRegistryContract(label: string, makeRegistry: MakeRegistry): void {
  describe(`Registry contract: ${label}`, () => {
    let registry: Registry;
    let cleanup: () => Promise<void>;
    let reopen: ((registry: Registry) => Promise<Registry>) | undefined;

    beforeEach(async () => {
      ({ registry, cleanup, reopen } = await makeRegistry());
    });
    afterEach(async () => {
      await registry.close();
      await cleanup();
    });

    it('numbers versions 1, 2, 3 per servable', async () => {
      expect(await registry.reserveVersion('alice', 'model')).toBe(1);
      expect(await registry.reserveVersion('alice', 'model')).toBe(2);
      expect(await registry.reserveVersion('alice', 'other')).toBe(1);
      expect(await registry.reserveVersion('bob', 'model')).toBe(1);
      expect(await registry.reserveVersion('alice', 'model')).toBe(3);
    });

    it('never hands out one number twice to concurrent publishes', async () => {
      const numbers = await Promise.all(Array.from({ length: 200 }, () => registry.reserveVersion('alice', 'busy')));
      expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    });

    it('keeps a pending version invisible until committed, and a failed one forever', async () => {
      const v1 = await registry.reserveVersion('alice', 'model');
      expect((await registry.getVersion('alice', 'model', v1))?.state).toBe('pending');
      expect(await registry.getVersion('alice', 'model')).toBeUndefined();
      expect(await registry.listVersions('alice', 'model')).toEqual([]);
      expect((await registry.listServables({ limit: 10 })).items).toEqual([]);

      await registry.commitVersion(doc('alice', 'model', v1));
      const v2 = await registry.reserveVersion('alice', 'model');
      await registry.failVersion('alice', 'model', v2);
      const latest = await registry.getVersion('alice', 'model');
      expect(latest).toMatchObject({ version: 1, state: 'published', document: doc('alice', 'model', 1) });
      expect(latest?.published_at).toBeTruthy();
      expect((await registry.getVersion('alice', 'model', v2))?.state).toBe('failed');
      expect((await registry.listVersions('alice', 'model')).map((v) => v.version)).toEqual([1]);
      // A failed number is not reused: an identifier may already name it.
      expect(await registry.reserveVersion('alice', 'model')).toBe(3);
    });

    it('refuses to commit a version that is not pending', async () => {
      expect(await hubErrorCode(registry.commitVersion(doc('alice', 'ghost', 1)))).toBe('MODELHUB_VERSION_NOT_FOUND');
      const document = await publish(registry, 'alice', 'model');
      expect(await hubErrorCode(registry.commitVersion(document))).toBe('MODELHUB_CONFLICT');
    });

    it('calls the highest published version latest, whatever the commit order', async () => {
      const a = await registry.reserveVersion('alice', 'model');
      const b = await registry.reserveVersion('alice', 'model');
      await registry.commitVersion(doc('alice', 'model', b));
      await registry.commitVersion(doc('alice', 'model', a));
      expect((await registry.getVersion('alice', 'model'))?.version).toBe(2);
      expect((await registry.listVersions('alice', 'model')).map((v) => v.version)).toEqual([2, 1]);
    });

    it('lists servables newest first with a working cursor and owner filter', async () => {
      await publish(registry, 'alice', 'one');
      await publish(registry, 'bob', 'two');
      await publish(registry, 'alice', 'three');
      await publish(registry, 'alice', 'one'); // one becomes the most recently published
      const first = await registry.listServables({ limit: 2 });
      expect(first.items.map((s) => s.servable)).toEqual(['alice/one', 'alice/three']);
      expect(first.items[0]).toMatchObject({
        owner: 'alice', name: 'one', latest_version: 2, title: 'alice/one v2', type: 'onnx',
        visibility: 'public', identifier: 'modelhub:alice/one/v2',
      });
      expect(first.items[0]!.document.hub.version).toBe(2);
      expect(first.items[0]!.updated_at).toBeTruthy();
      expect(first.next_cursor).toEqual(expect.any(String));
      const second = await registry.listServables({ limit: 2, cursor: first.next_cursor! });
      expect(second.items.map((s) => s.servable)).toEqual(['bob/two']);
      expect(second.next_cursor).toBeNull();
      const alices = await registry.listServables({ limit: 10, owner: 'alice' });
      expect(alices.items.map((s) => s.servable)).toEqual(['alice/one', 'alice/three']);
      expect(await hubErrorCode(registry.listServables({ limit: 2, cursor: 'not-a-cursor!' }))).toBe('MODELHUB_BAD_REQUEST');
    });

    it('leaves out private servables a viewer may not see, keeping pages full', async () => {
      await publish(registry, 'alice', 'open');
      await publish(registry, 'carol', 'secret', { visibility: 'private', sharedWith: { users: ['dave'], groups: ['lab'] } });
      await publish(registry, 'alice', 'open2');
      const names = async (viewer: Parameters<Registry['listServables']>[0]['viewer']) =>
        (await registry.listServables({ limit: 2, viewer })).items.map((s) => s.servable);
      expect(await names({})).toEqual(['alice/open2', 'alice/open']);
      expect(await names({ user: 'eve', groups: ['other'] })).toEqual(['alice/open2', 'alice/open']);
      expect(await names({ user: 'carol' })).toEqual(['alice/open2', 'carol/secret']);
      expect(await names({ user: 'dave' })).toEqual(['alice/open2', 'carol/secret']);
      expect(await names({ groups: ['lab'] })).toEqual(['alice/open2', 'carol/secret']);
      expect(await names({ admin: true })).toEqual(['alice/open2', 'carol/secret']);
      // Without a viewer the caller filters: everything is listed.
      expect((await registry.listServables({ limit: 10 })).items).toHaveLength(3);
    });

    it('lists for a viewer the latest version that viewer may see: a private version 2 never hides a public version 1', async () => {
      await publish(registry, 'alice', 'model');
      await publish(registry, 'alice', 'model', { visibility: 'private', sharedWith: { users: ['dave'] } });
      await publish(registry, 'alice', 'model', { visibility: 'private' });
      const latest = async (viewer: Parameters<Registry['listServables']>[0]['viewer']) =>
        (await registry.listServables({ limit: 10, viewer })).items.map((s) => `${s.servable}@${s.latest_version}:${s.document.hub.version}`);
      expect(await latest({})).toEqual(['alice/model@1:1']);
      expect(await latest({ user: 'eve' })).toEqual(['alice/model@1:1']);
      expect(await latest({ user: 'dave' })).toEqual(['alice/model@2:2']);
      expect(await latest({ user: 'alice' })).toEqual(['alice/model@3:3']);
      expect(await latest({ admin: true })).toEqual(['alice/model@3:3']);
    });

    it('withdraws one version or all, keeping the documents for tombstones', async () => {
      await publish(registry, 'alice', 'model');
      await publish(registry, 'alice', 'model');
      await publish(registry, 'alice', 'model');
      expect(await registry.withdraw('alice', 'model', 3, 'wrong weights')).toEqual([3]);
      expect((await registry.getVersion('alice', 'model'))?.version).toBe(2);
      const tombstone = await registry.getVersion('alice', 'model', 3);
      expect(tombstone).toMatchObject({ state: 'withdrawn', withdrawn_reason: 'wrong weights', document: doc('alice', 'model', 3) });
      expect(tombstone?.withdrawn_at).toBeTruthy();
      expect(await registry.withdraw('alice', 'model', 3, 'again')).toEqual([]);
      expect(await registry.withdraw('alice', 'model', undefined, 'retracted')).toEqual([2, 1]);
      expect(await registry.getVersion('alice', 'model')).toBeUndefined();
      expect((await registry.listVersions('alice', 'model')).map((v) => [v.version, v.state])).toEqual([
        [3, 'withdrawn'], [2, 'withdrawn'], [1, 'withdrawn'],
      ]);
      expect((await registry.listServables({ limit: 10 })).items).toEqual([]);
      expect(await registry.withdraw('nobody', 'nothing', undefined, 'x')).toEqual([]);
    });

    it('yields every published version for reindexing, and no withdrawn or pending one', async () => {
      for (let i = 0; i < 5; i += 1) await publish(registry, 'alice', 'many');
      await publish(registry, 'bob', 'one');
      await registry.withdraw('alice', 'many', 2, 'bad');
      await registry.reserveVersion('bob', 'one');
      const seen: string[] = [];
      for await (const document of registry.allPublished()) seen.push(`${document.hub.owner}/${document.hub.name}@${document.hub.version}`);
      expect(seen.sort()).toEqual(['alice/many@1', 'alice/many@3', 'alice/many@4', 'alice/many@5', 'bob/one@1']);
    });

    it('stores tasks, patches them and appends log lines in order', async () => {
      await registry.createTask(task('t1', { servable: 'alice/model', version: 1, steps: [{ name: 'upload', status: 'PENDING' }] }));
      expect(await hubErrorCode(registry.createTask(task('t1')))).toBe('MODELHUB_CONFLICT');
      await registry.updateTask('t1', { status: 'RUNNING', steps: [{ name: 'upload', status: 'RUNNING', started_at: 'now' }] });
      for (let i = 0; i < 500; i += 1) await registry.appendTaskLog('t1', `line ${i}`);
      await registry.updateTask('t1', { status: 'SUCCEEDED', result: { version: 1 }, completed_at: '2026-01-01T00:00:00Z' });
      const stored = await registry.getTask('t1');
      expect(stored).toMatchObject({
        task_id: 't1', kind: 'publish', status: 'SUCCEEDED', servable: 'alice/model', version: 1,
        result: { version: 1 }, completed_at: '2026-01-01T00:00:00Z',
        steps: [{ name: 'upload', status: 'RUNNING', started_at: 'now' }],
      });
      expect(stored?.log).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i}`));
      expect(await registry.getTask('missing')).toBeUndefined();
      expect(await hubErrorCode(registry.updateTask('missing', { status: 'FAILED' }))).toBe('MODELHUB_TASK_NOT_FOUND');
      expect(await hubErrorCode(registry.appendTaskLog('missing', 'x'))).toBe('MODELHUB_TASK_NOT_FOUND');
    });

    it('fails the tasks and versions a crash interrupted', async () => {
      const version = await registry.reserveVersion('alice', 'model');
      await registry.createTask(task('publishing', { status: 'RUNNING', servable: 'alice/model', version,
        steps: [{ name: 'upload', status: 'SUCCEEDED' }, { name: 'build', status: 'RUNNING' }] }));
      await registry.createTask(task('queued', { kind: 'run', status: 'PENDING' }));
      await registry.createTask(task('done', { kind: 'run', status: 'SUCCEEDED', completed_at: 'earlier' }));
      expect(await registry.settleInterruptedTasks('the hub restarted')).toEqual({ failed: 2, committed: [] });
      const failed = await registry.getTask('publishing');
      expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'MODELHUB_INTERNAL', message: 'the hub restarted' } });
      expect(failed?.completed_at).toBeTruthy();
      expect(failed?.steps?.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED']);
      expect((await registry.getTask('queued'))?.status).toBe('FAILED');
      expect(await registry.getTask('done')).toMatchObject({ status: 'SUCCEEDED', completed_at: 'earlier' });
      expect((await registry.getVersion('alice', 'model', version))?.state).toBe('failed');
      expect(await registry.settleInterruptedTasks('again')).toEqual({ failed: 0, committed: [] });
    });

    it('leaves a publish whose version was committed before the stop to be completed, not failed', async () => {
      const committed = await registry.reserveVersion('alice', 'model');
      const document = doc('alice', 'model', committed);
      await registry.commitVersion(document);
      await registry.createTask(task('indexing', { status: 'RUNNING', servable: 'alice/model', version: committed,
        steps: [{ name: 'register', status: 'SUCCEEDED' }, { name: 'index', status: 'RUNNING' }] }));
      const pending = await registry.reserveVersion('alice', 'model');
      await registry.createTask(task('storing', { status: 'RUNNING', servable: 'alice/model', version: pending,
        steps: [{ name: 'store', status: 'RUNNING' }] }));
      const settled = await registry.settleInterruptedTasks('the hub restarted');
      expect(settled.failed).toBe(1);
      expect(settled.committed.map((t) => [t.task_id, t.status, t.version])).toEqual([['indexing', 'RUNNING', committed]]);
      // Untouched: the caller finishes it (and a second start-up would find it again).
      expect((await registry.getTask('indexing'))?.status).toBe('RUNNING');
      expect((await registry.getVersion('alice', 'model', committed))?.state).toBe('published');
      expect((await registry.getTask('storing'))?.status).toBe('FAILED');
      expect((await registry.getVersion('alice', 'model', pending))?.state).toBe('failed');
    });

    it('names the blobs that committed versions use, withdrawn ones included', async () => {
      expect(await registry.referencedBlobs()).toEqual(new Set());
      const files = (digit: string) => [{ path: 'm.onnx', sha256: digit.repeat(64), size: 1 }, { path: 'x/y', sha256: 'f'.repeat(64), size: 2 }];
      for (const digit of ['a', 'b']) {
        const version = await registry.reserveVersion('alice', 'model');
        const document = doc('alice', 'model', version);
        await registry.commitVersion({ ...document, hub: { ...document.hub, files: files(digit) } });
      }
      await registry.withdraw('alice', 'model', 1, 'retired');
      // A pending version names no files yet; a failed one never will.
      await registry.reserveVersion('alice', 'model');
      expect(await registry.referencedBlobs()).toEqual(new Set(['a'.repeat(64), 'b'.repeat(64), 'f'.repeat(64)]));
    });

    it('stores and updates identifiers', async () => {
      const at = '2026-01-01T00:00:00.000Z';
      await registry.putIdentifier({ identifier: 'modelhub:alice/model/v1', owner: 'alice', name: 'model', version: 1, state: 'local', created_at: at });
      await registry.putIdentifier({ identifier: 'modelhub:alice/model', owner: 'alice', name: 'model', state: 'local', created_at: at });
      expect(await registry.getIdentifier('modelhub:alice/model/v1')).toEqual({
        identifier: 'modelhub:alice/model/v1', owner: 'alice', name: 'model', version: 1, state: 'local', created_at: at,
      });
      expect((await registry.getIdentifier('modelhub:alice/model'))?.version).toBeUndefined();
      await registry.putIdentifier({ identifier: 'modelhub:alice/model/v1', owner: 'alice', name: 'model', version: 1, state: 'hidden', created_at: 'later' });
      expect(await registry.getIdentifier('modelhub:alice/model/v1')).toMatchObject({ state: 'hidden', created_at: at });
      expect(await registry.getIdentifier('modelhub:nobody/x')).toBeUndefined();
    });

    it('keeps everything across closing and reopening', async (context) => {
      if (!reopen) context.skip();
      await publish(registry, 'alice', 'model');
      await publish(registry, 'alice', 'model');
      await registry.withdraw('alice', 'model', 1, 'superseded');
      const pending = await registry.reserveVersion('alice', 'model');
      await registry.createTask(task('t1', { status: 'RUNNING', servable: 'alice/model', version: pending }));
      await registry.appendTaskLog('t1', 'unpacking');
      await registry.putIdentifier({ identifier: 'modelhub:alice/model/v2', owner: 'alice', name: 'model', version: 2, state: 'local', created_at: 'then' });

      registry = await reopen!(registry);
      expect((await registry.getVersion('alice', 'model'))?.document).toEqual(doc('alice', 'model', 2));
      expect((await registry.getVersion('alice', 'model', 1))).toMatchObject({ state: 'withdrawn', withdrawn_reason: 'superseded' });
      expect((await registry.listServables({ limit: 5 })).items.map((s) => s.servable)).toEqual(['alice/model']);
      expect((await registry.getTask('t1'))?.log).toEqual(['unpacking']);
      expect(await registry.getIdentifier('modelhub:alice/model/v2')).toMatchObject({ version: 2 });
      expect((await registry.settleInterruptedTasks('restarted')).failed).toBe(1);
      expect((await registry.getVersion('alice', 'model', pending))?.state).toBe('failed');
      expect(await registry.reserveVersion('alice', 'model')).toBe(4);
    });
  });
}
