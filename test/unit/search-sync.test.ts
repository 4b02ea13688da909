/**
 * SearchSync keeps the index following the registry while the search backend is down: writes it
 * refuses as unavailable are queued, applied in order when it is back, and search then answers as
 * if nothing had happened. The backend is the real SQLite index behind a switch that makes it
 * answer as an unreachable server does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubError } from '../../schemas/errors.ts';
import { SqliteSearchIndex } from '../../hub-server/adapters/sqlite-search-index.ts';
import type { SearchIndex } from '../../schemas/ports/search-index.ts';
import { SearchSync } from '../../hub-server/use-cases/search-sync.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-search-sync-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function switchable(index: SearchIndex) {
  const state = { down: false };
  const guard = <T>(call: () => Promise<T>) =>
    state.down ? Promise.reject(new HubError('BACKEND_UNAVAILABLE', 'search backend: connection refused')) : call();
  const wrapped: SearchIndex = {
    kind: 'switchable',
    index: (document) => guard(() => index.index(document)),
    remove: (owner, name, version) => guard(() => index.remove(owner, name, version)),
    search: (query) => guard(() => index.search(query)),
    rebuild: (documents) => guard(() => index.rebuild(documents)),
    health: () => index.health(),
    close: () => index.close(),
  };
  return { wrapped, state };
}

describe('SearchSync', () => {
  it('queues writes while the backend is down and applies them in order when it returns', async () => {
    const real = SqliteSearchIndex.open(path.join(dir, 'search.db'));
    const { wrapped, state } = switchable(real);
    const sync = new SearchSync(wrapped, { retryMs: 60_000 });
    const a = publishedDocument({ owner: 'lab', name: 'alpha', version: 1, title: 'Alpha detector' });
    const b = publishedDocument({ owner: 'lab', name: 'beta', version: 1, title: 'Beta detector' });
    expect(await sync.indexDocument(a)).toEqual({ deferred: false });

    state.down = true;
    expect((await sync.indexDocument(b)).deferred).toBe(true);
    expect((await sync.removeServable('lab', 'alpha')).deferred).toBe(true);
    expect(sync.backlog).toBe(2);
    await sync.flush();
    expect(sync.backlog).toBe(2);

    state.down = false;
    // A write made while others wait queues behind them, so the index sees every write in order.
    expect((await sync.indexDocument(a)).deferred).toBe(true);
    await sync.flush();
    expect(sync.backlog).toBe(0);
    const hits = await real.search({ q: 'detector', latest: true });
    expect(hits.hits.map((hit) => hit.servable).sort()).toEqual(['lab/alpha', 'lab/beta']);
    sync.close();
    await real.close();
  });

  it('leaves a marker while writes are queued, so the next run rebuilds the index from the registry', async () => {
    const real = SqliteSearchIndex.open(path.join(dir, 'restart.db'));
    const { wrapped, state } = switchable(real);
    const backlogFile = path.join(dir, 'search-backlog');
    const kept = publishedDocument({ owner: 'lab', name: 'kept', version: 1, title: 'Kept model' });
    const missed = publishedDocument({ owner: 'lab', name: 'missed', version: 1, title: 'Missed model' });
    const registry = [kept, missed];
    async function* allPublished() {
      yield* registry;
    }

    const first = new SearchSync(wrapped, { retryMs: 60_000, backlogFile });
    expect(first.missedWritesBeforeRestart).toBe(false);
    await first.indexDocument(kept);
    expect(fs.existsSync(backlogFile)).toBe(false);
    state.down = true;
    expect((await first.indexDocument(missed)).deferred).toBe(true);
    expect(fs.existsSync(backlogFile)).toBe(true);
    first.close(); // The process stops with the write still queued.

    // Next start, backend still down: the rebuild waits in the queue and the marker stays.
    const second = new SearchSync(wrapped, { retryMs: 60_000, backlogFile });
    expect(second.missedWritesBeforeRestart).toBe(true);
    expect((await second.rebuildFrom(allPublished)).deferred).toBe(true);
    expect(fs.existsSync(backlogFile)).toBe(true);
    state.down = false;
    await second.flush();
    expect(second.backlog).toBe(0);
    expect(fs.existsSync(backlogFile)).toBe(false);
    expect((await real.search({ q: 'model' })).hits.map((hit) => hit.servable).sort()).toEqual(['lab/kept', 'lab/missed']);

    // A rebuild that succeeds at once clears a marker too.
    fs.writeFileSync(backlogFile, '');
    const third = new SearchSync(wrapped, { backlogFile });
    expect(third.missedWritesBeforeRestart).toBe(true);
    expect(await third.rebuildFrom(allPublished)).toEqual({ deferred: false });
    expect(fs.existsSync(backlogFile)).toBe(false);
    second.close();
    third.close();
    await real.close();
  });

  it('passes errors other than an unavailable backend to the caller', async () => {
    const failing: SearchIndex = {
      kind: 'failing',
      index: () => Promise.reject(new HubError('BAD_REQUEST', 'a document the index refuses')),
      remove: () => Promise.resolve(),
      search: () => Promise.reject(new Error('unused')),
      rebuild: () => Promise.resolve(0),
      health: () => Promise.resolve({ ok: true, backend: 'failing' }),
      close: () => Promise.resolve(),
    };
    const sync = new SearchSync(failing);
    await expect(sync.indexDocument(publishedDocument({ owner: 'lab', name: 'x', version: 1, title: 'Refused' }))).rejects.toMatchObject({ code: 'MODELHUB_BAD_REQUEST' });
    expect(sync.backlog).toBe(0);
  });
});
