/**
 * The contract every CollectionStore adapter passes (docs/collections.md): a name is taken once,
 * records read back as written, and the list query filters by words (wildcards meaning
 * themselves), owner, member, visibility, identifier state and withdrawal, newest first, paged.
 * `makeStore` gives a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CollectionRecord, CollectionStore } from '../../schemas/ports/collection-store.ts';
import { hubErrorCode } from '../helpers/rejection.ts';

export type MakeCollectionStore = () => Promise<{ store: CollectionStore; cleanup: () => Promise<void> }>;

const record = (owner: string, name: string, extra: Partial<CollectionRecord> = {}): CollectionRecord => ({
  owner,
  name,
  title: `Models of ${name}`,
  creators: [{ name: 'Curie, Marie', orcid: '0000-0002-1825-0097' }],
  members: [{ owner: 'lab', name: 'mlp', version: 1 }],
  visibility: 'public',
  identifier: `10.5072/modelhub-collection.${owner}.${name}`,
  identifier_type: 'DOI',
  identifier_state: 'findable',
  created_at: '2026-12-05T10:00:00.000Z',
  updated_at: '2026-12-05T10:00:00.000Z',
  ...extra,
});

export function describeCollectionStoreContract(adapter: string, makeStore: MakeCollectionStore): void {
  describe(`CollectionStore contract (${adapter})`, () => {
    let store: CollectionStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('takes a name once and reads a record back as written, by name and by identifier', async () => {
      const written = record('alice', 'paper', { description: 'Figure 3, 100% of it', last_error: 'DataCite refused' });
      await store.create(written);
      expect(await store.get('alice', 'paper')).toEqual(written);
      expect(await store.getByIdentifier('10.5072/MODELHUB-COLLECTION.ALICE.PAPER')).toEqual(written);
      expect(await hubErrorCode(store.create(record('alice', 'paper', { identifier: 'other' })))).toBe('MODELHUB_COLLECTION_EXISTS');
      const changed: CollectionRecord = { ...record('alice', 'paper'), title: 'New title', members: [], visibility: 'private', identifier_state: 'draft', withdrawn_at: '2026-12-06T00:00:00.000Z' };
      await store.update(changed);
      expect(await store.get('alice', 'paper')).toEqual(changed);
      expect(await hubErrorCode(store.update(record('alice', 'nothing')))).toBe('MODELHUB_COLLECTION_NOT_FOUND');
      expect(await store.get('alice', 'nothing')).toBeUndefined();
    });

    it('lists by words, owner, member, visibility and state, newest first, paged', async () => {
      await store.create(record('alice', 'paper', { description: 'Radium decay', created_at: '2026-12-05T10:00:00.000Z' }));
      await store.create(record('alice', 'draft', { visibility: 'private', identifier_state: 'pending', members: [{ owner: 'lab', name: 'mlp', version: 2 }], created_at: '2026-12-05T11:00:00.000Z' }));
      await store.create(record('bob', 'thesis', { title: 'Thesis 50%_done', members: [], created_at: '2026-12-05T12:00:00.000Z' }));
      await store.create(record('bob', 'gone', { withdrawn_at: '2026-12-05T13:00:00.000Z', created_at: '2026-12-05T13:00:00.000Z' }));
      const names = async (query: Parameters<CollectionStore['list']>[0]) => (await store.list(query)).records.map((r) => `${r.owner}/${r.name}`);
      expect(await names({})).toEqual(['bob/thesis', 'alice/draft', 'alice/paper']);
      expect(await names({ withdrawn: true })).toEqual(['bob/gone', 'bob/thesis', 'alice/draft', 'alice/paper']);
      expect(await names({ words: ['radium', 'decay'] })).toEqual(['alice/paper']);
      expect(await names({ words: ['curie'] })).toHaveLength(3);
      expect(await names({ words: ['50%_'] })).toEqual(['bob/thesis']);
      expect(await names({ words: ['0%d'] })).toEqual([]);
      expect(await names({ owner: 'alice' })).toEqual(['alice/draft', 'alice/paper']);
      expect(await names({ containing: { owner: 'lab', name: 'mlp' } })).toEqual(['alice/draft', 'alice/paper']);
      expect(await names({ containing: { owner: 'lab', name: 'mlp', version: 1 } })).toEqual(['alice/paper']);
      expect(await names({ visibleTo: {} })).toEqual(['bob/thesis', 'alice/paper']);
      expect(await names({ visibleTo: { user: 'alice' } })).toEqual(['bob/thesis', 'alice/draft', 'alice/paper']);
      expect(await names({ visibleTo: { user: 'bob', admin: true } })).toHaveLength(3);
      expect(await names({ identifierState: 'pending' })).toEqual(['alice/draft']);
      const page = await store.list({ limit: 1, offset: 1 });
      expect(page.total).toBe(3);
      expect(page.records.map((r) => r.name)).toEqual(['draft']);
    });
  });
}
