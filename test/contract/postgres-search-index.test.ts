/**
 * Search in PostgreSQL (MODELHUB_SEARCH=postgres) passes the same contract as the SQLite FTS5 and
 * Elasticsearch indexes, each test on a fresh schema.
 */
import { describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresSearchIndex, toTsQuery } from '../../hub-server/adapters/postgres-search-index.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { describeSearchIndexContract, searchFixtures } from './search-index-contract.ts';

async function openIndex(url: string): Promise<PostgresSearchIndex> {
  const db = PostgresDatabase.open(url);
  try {
    return await PostgresSearchIndex.open(db);
  } finally {
    await db.close(); // the index holds its own share of the pool
  }
}

describePostgres('PostgresSearchIndex', () => {
  describeSearchIndexContract('postgres', async () => {
    const { url, drop } = await freshSchema();
    return { index: await openIndex(url), cleanup: drop };
  });

  it('keeps its documents across closing and reopening', async () => {
    const { url, drop } = await freshSchema();
    try {
      const first = await openIndex(url);
      for (const document of searchFixtures) await first.index(document);
      await first.close();
      const second = await openIndex(url);
      expect((await second.search({ q: 'galaxy' })).hits.map((hit) => hit.servable)).toEqual(['astro/galaxy-morphology', 'ward-lab/bandgap-cnn']);
      await second.close();
    } finally {
      await drop();
    }
  });
});

describe('the user text as a tsquery', () => {
  it('quotes every word, so user text is never tsquery syntax', () => {
    expect(toTsQuery('"foo AND (')).toBe(`'foo' & 'and'`);
    expect(toTsQuery('mnist-mlp digit*')).toBe(`('mnist' <-> 'mlp') & 'digit':*`);
    expect(toTsQuery(`it's`)).toBe(`('it' <-> 's')`);
    expect(toTsQuery('Ünïcødé')).toBe(`'unicøde'`);
    expect(toTsQuery('( ) " * !')).toBeUndefined();
  });
});
