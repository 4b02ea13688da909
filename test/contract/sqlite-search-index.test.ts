import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteSearchIndex, toFtsQuery } from '../../hub-server/adapters/sqlite-search-index.ts';
import { describeSearchIndexContract, searchFixtures } from './search-index-contract.ts';

describeSearchIndexContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-search-'));
  return { index: SqliteSearchIndex.open(path.join(dir, 'search.db')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('SqliteSearchIndex specifics', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('quotes every word so user text is never FTS5 syntax', () => {
    expect(toFtsQuery('"foo AND (')).toBe('"foo" "AND"');
    expect(toFtsQuery('mnist-mlp digit*')).toBe('"mnist mlp" "digit" *');
    expect(toFtsQuery('( ) " *')).toBeUndefined();
  });

  it('keeps its documents across closing and reopening', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-search-'));
    dirs.push(dir);
    const file = path.join(dir, 'search.db');
    const first = SqliteSearchIndex.open(file);
    for (const document of searchFixtures) await first.index(document);
    await first.close();
    const second = SqliteSearchIndex.open(file);
    const reply = await second.search({ q: 'galaxy' });
    expect(reply.hits.map((hit) => hit.servable)).toEqual(['astro/galaxy-morphology', 'ward-lab/bandgap-cnn']);
    await second.close();
  });

  it('fills the title sort key of an index written before sort=title existed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-search-'));
    dirs.push(dir);
    const file = path.join(dir, 'search.db');
    const current = SqliteSearchIndex.open(file);
    for (const document of searchFixtures) await current.index(document);
    await current.close();
    // Back to the first schema: no title_key column, user_version 1.
    const raw = new Database(file);
    raw.exec('ALTER TABLE docs DROP COLUMN title_key');
    raw.pragma('user_version = 1');
    raw.close();
    const upgraded = SqliteSearchIndex.open(file);
    const titles = (await upgraded.search({ sort: 'title' })).hits.map((hit) => hit.title);
    expect(titles).toEqual([...titles].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)));
    expect(titles[0]).toBe('Band gap predictor for perovskites');
    await upgraded.close();
  });
});
