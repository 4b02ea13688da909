/**
 * The contract every SearchIndex adapter passes (SQLite FTS5 here, Elasticsearch elsewhere). Each
 * test gets a fresh, empty index from `makeIndex` and indexes `searchFixtures` into it.
 *
 * What it pins down, so that both backends answer alike: every word of `q` must match (AND);
 * a trailing `*` is a prefix; a title match ranks above a description match; no `q` means newest
 * first with score 0; `latest` (default true) keeps the highest indexed version of each servable;
 * filters are exact and case-insensitive except `author` (a substring of any creator name) and
 * `doi` (the version's identifier or any related identifier, with or without https://doi.org/);
 * totals and facets count the whole filtered result set the viewer may see; `sort` orders hits by
 * relevance (the default), newest publication or title (case folded), ties broken by servable
 * name A-Z and then the newest version, and never changes totals or facets.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SearchHit, SearchReply, SearchSort } from '../../schemas/api.ts';
import { isHubError } from '../../schemas/errors.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { IndexQuery, SearchIndex } from '../../schemas/ports/search-index.ts';
import { publishedDocument, searchFixtures } from './metadata-fixtures.ts';

export { searchFixtures } from './metadata-fixtures.ts';

export type MakeSearchIndex = () => Promise<{ index: SearchIndex; cleanup: () => Promise<void> }>;

const servables = (reply: SearchReply): string[] => reply.hits.map((hit) => hit.servable);

async function* iterate(documents: readonly PublishedMetadata[]): AsyncIterable<PublishedMetadata> {
  yield* documents;
}

/** The visible, latest servables, newest first, as an anonymous caller sees them. */
const PUBLIC_LATEST = [
  'astro/supernova-lightcurves',
  'astro/galaxy-morphology',
  'ward-lab/bandgap-cnn',
  'ward-lab/formation-energy',
  'lecun-lab/mnist-mlp',
];

/** Where a hit's document is, to compute the expected order independently of any index. */
function documentOf(documents: readonly PublishedMetadata[], hit: SearchHit): PublishedMetadata {
  const found = documents.find((d) => `${d.hub.owner}/${d.hub.name}` === hit.servable && d.hub.version === hit.version);
  if (!found) throw new Error(`no fixture for ${hit.servable} v${hit.version}`);
  return found;
}

const byServable = (a: PublishedMetadata, b: PublishedMetadata): number => {
  const left = `${a.hub.owner}/${a.hub.name}`;
  const right = `${b.hub.owner}/${b.hub.name}`;
  return left < right ? -1 : left > right ? 1 : 0;
};
/** Code-point order, as a keyword sort and SQLite's BINARY collation compare. */
const codePoints = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The reference orders, written from the contract's words rather than from either adapter. */
const REFERENCE: Record<Exclude<SearchSort, 'relevance'>, (a: PublishedMetadata, b: PublishedMetadata) => number> = {
  newest: (a, b) =>
    Date.parse(b.hub.publication_date) - Date.parse(a.hub.publication_date) || b.hub.version - a.hub.version || byServable(a, b),
  title: (a, b) =>
    codePoints(a.datacite.titles[0]!.title.toLowerCase(), b.datacite.titles[0]!.title.toLowerCase()) || byServable(a, b) || b.hub.version - a.hub.version,
};

/** Extra versions for the sort tests: a lower-case title, a title equal but for case, a tie on date. */
const SORT_EXTRAS: readonly PublishedMetadata[] = [
  publishedDocument({ owner: 'zeta-lab', name: 'alpha-tracks', title: 'alpha particle track finder', publicationDate: '2026-01-03T00:00:00.000Z' }),
  publishedDocument({ owner: 'perov', name: 'bandgap', title: 'BAND GAP PREDICTOR FOR PEROVSKITES', type: 'keras', publicationDate: '2026-01-07T00:00:00.000Z' }),
  publishedDocument({ owner: 'lecun-lab', name: 'mnist-mlp', version: 3, title: 'MNIST handwritten digit classifier', publicationDate: '2026-01-02T00:00:00.000Z' }),
];

export function describeSearchIndexContract(label: string, makeIndex: MakeSearchIndex): void {
  describe(`SearchIndex contract: ${label}`, () => {
    let index: SearchIndex;
    let cleanup: () => Promise<void>;
    const search = (query: IndexQuery) => index.search(query);

    beforeEach(async () => {
      ({ index, cleanup } = await makeIndex());
      for (const document of searchFixtures) await index.index(document);
    });
    afterEach(async () => {
      await index.close();
      await cleanup();
    });

    it('without q lists the latest public versions newest first with score 0', async () => {
      const reply = await search({});
      expect(reply.total).toBe(5);
      expect(servables(reply)).toEqual(PUBLIC_LATEST);
      expect(reply.hits.every((hit) => hit.score === 0)).toBe(true);
      expect(reply.hits.find((hit) => hit.servable === 'lecun-lab/mnist-mlp')?.version).toBe(2);
    });

    it('answers hits in the API shape', async () => {
      const reply = await search({ q: 'morphology' });
      expect(reply.hits).toEqual([
        {
          servable: 'astro/galaxy-morphology',
          version: 1,
          title: 'Galaxy morphology classifier',
          authors: ['Huertas-Company, Marc'],
          domains: ['astronomy', 'computer vision'],
          type: 'tfjs',
          identifier: 'modelhub:astro/galaxy-morphology/v1',
          score: expect.any(Number),
        },
      ]);
      expect(reply.hits[0]!.score).toBeGreaterThan(0);
    });

    it('ranks a title match above a description match', async () => {
      const galaxy = await search({ q: 'galaxy' });
      expect(servables(galaxy)).toEqual(['astro/galaxy-morphology', 'ward-lab/bandgap-cnn']);
      expect(galaxy.hits[0]!.score).toBeGreaterThan(galaxy.hits[1]!.score);
      const classifier = await search({ q: 'classifier' });
      expect(classifier.total).toBe(4);
      expect(servables(classifier).at(-1)).toBe('ward-lab/bandgap-cnn');
      const scores = classifier.hits.map((hit) => hit.score);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    });

    it('requires every word of q, searching authors, subjects, domains and names too', async () => {
      expect(servables(await search({ q: 'light curve classifier' }))).toEqual(['astro/supernova-lightcurves']);
      expect(servables(await search({ q: 'digit classifier' }))).toEqual(['lecun-lab/mnist-mlp']);
      expect((await search({ q: 'digit galaxy' })).total).toBe(0);
      expect(servables(await search({ q: 'Blaiszik' }))).toEqual(['ward-lab/formation-energy']);
      expect(servables(await search({ q: 'thermodynamics' }))).toEqual(['ward-lab/formation-energy']);
      expect(servables(await search({ q: 'astronomy' })).sort()).toEqual(['astro/galaxy-morphology', 'astro/supernova-lightcurves']);
      expect(servables(await search({ q: 'bandgap' }))).toEqual(['ward-lab/bandgap-cnn']);
      expect(servables(await search({ q: 'SKLEARN' }))).toEqual(['ward-lab/formation-energy']);
    });

    it('matches a word with a trailing * as a prefix', async () => {
      expect(servables(await search({ q: 'mnist*' }))).toEqual(['lecun-lab/mnist-mlp']);
      expect(servables(await search({ q: 'perovsk*' }))).toEqual(['ward-lab/bandgap-cnn']);
    });

    it('filters by owner, domain, author, type and doi', async () => {
      expect(servables(await search({ owner: 'ward-lab' }))).toEqual(['ward-lab/bandgap-cnn', 'ward-lab/formation-energy']);
      expect(servables(await search({ domain: 'Materials Science' }))).toEqual(['ward-lab/bandgap-cnn', 'ward-lab/formation-energy']);
      expect(servables(await search({ domain: 'astronomy', q: 'classifier' })).sort()).toEqual([
        'astro/galaxy-morphology', 'astro/supernova-lightcurves',
      ]);
      expect(servables(await search({ author: 'ward' }))).toEqual([
        'astro/supernova-lightcurves', 'ward-lab/bandgap-cnn', 'ward-lab/formation-energy',
      ]);
      expect((await search({ author: 'LOGAN' })).total).toBe(3);
      expect(servables(await search({ author: 'huertas-company, m' }))).toEqual(['astro/galaxy-morphology']);
      expect(servables(await search({ type: 'keras' }))).toEqual(['ward-lab/bandgap-cnn']);
    });

    it('matches any of several domains (joined with ",") or authors (joined with ";"), as the SDK sends them', async () => {
      expect(servables(await search({ domain: 'Materials Science, astronomy' })).sort()).toEqual([
        'astro/galaxy-morphology', 'astro/supernova-lightcurves', 'ward-lab/bandgap-cnn', 'ward-lab/formation-energy',
      ]);
      expect(servables(await search({ domain: 'astronomy,no such domain', q: 'classifier' })).sort()).toEqual([
        'astro/galaxy-morphology', 'astro/supernova-lightcurves',
      ]);
      expect(servables(await search({ author: 'Huertas-Company, M; ward' })).sort()).toEqual([
        'astro/galaxy-morphology', 'astro/supernova-lightcurves', 'ward-lab/bandgap-cnn', 'ward-lab/formation-energy',
      ]);
      expect((await search({ domain: ' , ' })).total).toBe(0);
      expect(servables(await search({ doi: '10.1038/NPJCOMPUMATS.2016.28' }))).toEqual(['ward-lab/formation-energy']);
      expect(servables(await search({ doi: 'https://doi.org/10.1093/mnras/stv2818' }))).toEqual(['astro/galaxy-morphology']);
      expect(servables(await search({ doi: 'modelhub:ward-lab/bandgap-cnn/v1' }))).toEqual(['ward-lab/bandgap-cnn']);
      expect((await search({ doi: '10.1093/mnras' })).total).toBe(0);
      expect((await search({ owner: 'ward-lab', type: 'onnx' })).total).toBe(0);
    });

    it('counts facets over the whole filtered result, not the page', async () => {
      const reply = await search({ limit: 1 });
      expect(reply.hits).toHaveLength(1);
      expect(reply.total).toBe(5);
      expect(reply.facets.domain).toEqual({ 'computer vision': 2, 'materials science': 2, astronomy: 2 });
      expect(reply.facets.type).toEqual({ onnx: 1, sklearn: 1, keras: 1, tfjs: 1, python: 1 });
      expect(reply.facets.owner).toEqual({ 'lecun-lab': 1, 'ward-lab': 2, astro: 2 });
      expect(reply.facets.author).toEqual({
        'Ward, Logan': 3, 'LeCun, Yann': 1, 'Cortes, Corinna': 1, 'Blaiszik, Ben': 1,
        'Huertas-Company, Marc': 1, 'Narayan, Gautham': 1,
      });
      const filtered = await search({ q: 'classifier', limit: 0 });
      expect(filtered.hits).toEqual([]);
      expect(filtered.total).toBe(4);
      expect(filtered.facets.owner).toEqual({ 'lecun-lab': 1, astro: 2, 'ward-lab': 1 });
      expect(filtered.facets.domain).toEqual({ 'computer vision': 2, astronomy: 2, 'materials science': 1 });
    });

    it('filters and counts by the last reproducibility check, versions without one as unchecked', async () => {
      const checked = (servable: string, status: 'reproducible' | 'drifted' | 'fails') => {
        const document = structuredClone(searchFixtures.find((d) => `${d.hub.owner}/${d.hub.name}` === servable && d.hub.version === 1)!);
        document.hub.reproducibility = { status, summary: status, checked_at: '2026-02-01T00:00:00.000Z' };
        return document;
      };
      await index.index(checked('ward-lab/bandgap-cnn', 'drifted'));
      await index.index(checked('astro/galaxy-morphology', 'reproducible'));
      const all = await search({ limit: 0 });
      expect(all.facets.reproducibility).toEqual({ unchecked: 3, drifted: 1, reproducible: 1 });
      expect(servables(await search({ reproducibility: 'drifted' }))).toEqual(['ward-lab/bandgap-cnn']);
      expect((await search({ reproducibility: 'unchecked' })).total).toBe(3);
      expect((await search({ reproducibility: 'fails' })).total).toBe(0);
      expect((await search({ reproducibility: 'reproducible', owner: 'ward-lab' })).total).toBe(0);
    });

    it('searches every version with latest=false', async () => {
      const latest = await search({ q: 'mnist' });
      expect(latest.hits.map((hit) => hit.version)).toEqual([2]);
      const all = await search({ q: 'mnist', latest: false });
      expect(all.hits.map((hit) => hit.version).sort()).toEqual([1, 2]);
      expect(all.facets.owner).toEqual({ 'lecun-lab': 2 });
      expect((await search({ latest: false })).total).toBe(6);
      expect(servables(await search({ doi: 'modelhub:lecun-lab/mnist-mlp/v1', latest: false }))).toEqual(['lecun-lab/mnist-mlp']);
      expect((await search({ doi: 'modelhub:lecun-lab/mnist-mlp/v1' })).total).toBe(0);
    });

    it('shows a private servable only to its owner, sharers, their groups and admins, in counts too', async () => {
      const xrd = 'chard-lab/xrd-phase';
      for (const viewer of [undefined, {}, { user: 'mallory', groups: ['other'] }]) {
        const reply = await search({ q: 'diffraction', viewer });
        expect(reply.total).toBe(0);
        expect(reply.facets.owner).toEqual({});
        expect(reply.facets.domain).toEqual({});
        expect(reply.facets.type).toEqual({});
        expect((await search({ domain: 'materials science', viewer })).facets.domain).toEqual({ 'materials science': 2 });
        expect((await search({ viewer })).facets.owner['chard-lab']).toBeUndefined();
      }
      for (const viewer of [{ user: 'chard-lab' }, { user: 'blaiszik' }, { user: 'x', groups: ['hpc', 'argonne'] }, { admin: true }]) {
        const reply = await search({ viewer });
        expect(reply.total).toBe(6);
        expect(servables(reply).slice(0, 2)).toEqual(['astro/supernova-lightcurves', xrd]);
        expect(reply.facets.domain['materials science']).toBe(3);
        expect(reply.facets.type.torch).toBe(1);
        expect(servables(await search({ q: 'diffraction', viewer }))).toEqual([xrd]);
      }
    });

    it('keeps latest per viewer: a private version 2 never hides the public version 1 from others', async () => {
      const title = 'Spectral unmixing autoencoder';
      await index.index(publishedDocument({ owner: 'remote-lab', name: 'unmix', version: 1, title }));
      await index.index(publishedDocument({ owner: 'remote-lab', name: 'unmix', version: 2, title, visibility: 'private', sharedWith: { users: ['dana'] } }));
      await index.index(publishedDocument({ owner: 'remote-lab', name: 'unmix', version: 3, title, visibility: 'private', sharedWith: { groups: ['unmixers'] } }));
      const versionsSeen = async (viewer: IndexQuery['viewer']) => (await search({ q: 'unmixing', viewer })).hits.map((hit) => hit.version);
      expect(await versionsSeen(undefined)).toEqual([1]);
      expect(await versionsSeen({ user: 'mallory' })).toEqual([1]);
      expect(await versionsSeen({ user: 'dana' })).toEqual([2]);
      expect(await versionsSeen({ user: 'x', groups: ['unmixers'] })).toEqual([3]);
      expect(await versionsSeen({ user: 'remote-lab' })).toEqual([3]);
      expect(await versionsSeen({ admin: true })).toEqual([3]);
      // Counts and facets follow the same hits.
      expect((await search({ owner: 'remote-lab' })).total).toBe(1);
      expect((await search({ owner: 'remote-lab', latest: false, viewer: { user: 'dana' } })).total).toBe(2);
    });

    it('pages with limit and offset', async () => {
      const pages: string[] = [];
      for (let offset = 0; offset < 6; offset += 2) {
        const page = await search({ limit: 2, offset });
        expect(page.total).toBe(5);
        pages.push(...servables(page));
      }
      expect(pages).toEqual(PUBLIC_LATEST);
      const beyond = await search({ limit: 10, offset: 50 });
      expect(beyond).toMatchObject({ total: 5, hits: [] });
    });

    it('replaces a re-indexed version and removes versions or whole servables', async () => {
      const renamed = publishedDocument({ owner: 'astro', name: 'galaxy-morphology', title: 'Spiral arm detector', domains: ['astronomy'] });
      await index.index(renamed);
      expect((await search({ q: 'sloan' })).total).toBe(0);
      expect(servables(await search({ q: 'spiral arm' }))).toEqual(['astro/galaxy-morphology']);
      expect((await search({})).total).toBe(5);

      await index.remove('lecun-lab', 'mnist-mlp', 2);
      expect((await search({ q: 'mnist' })).hits.map((hit) => hit.version)).toEqual([1]);
      await index.remove('ward-lab', 'bandgap-cnn');
      expect((await search({ q: 'perovskites', latest: false })).total).toBe(0);
      expect((await search({})).total).toBe(4);
      await index.remove('nobody', 'nothing');
    });

    it('rebuilds from scratch', async () => {
      const kept = searchFixtures.filter((document) => document.hub.owner === 'astro');
      expect(await index.rebuild(iterate(kept))).toBe(2);
      expect(servables(await search({}))).toEqual(['astro/supernova-lightcurves', 'astro/galaxy-morphology']);
      expect((await search({ q: 'mnist', latest: false })).total).toBe(0);
      expect(await index.rebuild(iterate([]))).toBe(0);
      expect((await search({ latest: false, viewer: { admin: true } })).total).toBe(0);
    });

    it('survives hostile query text', async () => {
      const hostile = [
        '"foo AND (', 'mnist*', '*', '"', "'", ')', 'NEAR(a b', 'title:galaxy', '-galaxy', 'a OR', '^x', '{}',
        'galaxy"', '\\', 'AND', 'NOT', 'ünïcødé', '   ', '', 'a'.repeat(400), 'x* y* z*', '💥 galaxy',
        "'; DROP TABLE docs; --",
      ];
      for (const q of hostile) {
        const reply = await search({ q });
        expect(reply.total, q).toBeGreaterThanOrEqual(0);
        expect(Array.isArray(reply.hits), q).toBe(true);
        expect(reply.facets).toHaveProperty('domain');
      }
      expect(servables(await search({ q: '💥 galaxy' }))[0]).toBe('astro/galaxy-morphology');
      expect((await search({})).total).toBe(5);
    });

    describe('sort', () => {
      const documents = [...searchFixtures, ...SORT_EXTRAS];
      beforeEach(async () => {
        for (const document of SORT_EXTRAS) await index.index(document);
      });
      /** The hits of `reply`, reordered by the reference order: they must already be in it. */
      const referenceOrder = (reply: SearchReply, sort: Exclude<SearchSort, 'relevance'>) =>
        reply.hits
          .map((hit) => documentOf(documents, hit))
          .sort(REFERENCE[sort])
          .map((document) => `${document.hub.owner}/${document.hub.name}@${document.hub.version}`);
      const keys = (reply: SearchReply) => reply.hits.map((hit) => `${hit.servable}@${hit.version}`);

      it('relevance is the default and keeps score order', async () => {
        const implicit = await search({ q: 'classifier' });
        expect(await search({ q: 'classifier', sort: 'relevance' })).toEqual(implicit);
        const scores = implicit.hits.map((hit) => hit.score);
        expect([...scores].sort((a, b) => b - a)).toEqual(scores);
        expect(servables(implicit).at(-1)).toBe('ward-lab/bandgap-cnn');
      });

      it('newest orders by publication date whatever the score, ties by servable name', async () => {
        const newest = await search({ q: 'classifier', sort: 'newest' });
        expect(keys(newest)).toEqual(referenceOrder(newest, 'newest'));
        expect(keys(newest)).toEqual([
          'astro/supernova-lightcurves@1', 'astro/galaxy-morphology@1', 'ward-lab/bandgap-cnn@1', 'lecun-lab/mnist-mlp@3',
        ]);
        // Scores are still those of the text match.
        expect(newest.hits.every((hit) => hit.score > 0)).toBe(true);
        const all = await search({ sort: 'newest', limit: 50 });
        expect(keys(all)).toEqual(referenceOrder(all, 'newest'));
        // The same publication date: astro/supernova-lightcurves before perov/bandgap.
        expect(servables(all).slice(0, 2)).toEqual(['astro/supernova-lightcurves', 'perov/bandgap']);
      });

      it('newest with latest=false lists every version, a later version first on the same date', async () => {
        const versions = await search({ q: 'mnist', sort: 'newest', latest: false });
        expect(keys(versions)).toEqual(['lecun-lab/mnist-mlp@3', 'lecun-lab/mnist-mlp@2', 'lecun-lab/mnist-mlp@1']);
        const all = await search({ sort: 'newest', latest: false, limit: 50 });
        expect(all.total).toBe(9);
        expect(keys(all)).toEqual(referenceOrder(all, 'newest'));
      });

      it('title orders A-Z ignoring case, then by servable name, then newest version', async () => {
        const titled = await search({ sort: 'title', limit: 50 });
        expect(keys(titled)).toEqual(referenceOrder(titled, 'title'));
        expect(keys(titled)).toEqual([
          'zeta-lab/alpha-tracks@1', // lower case, still first
          'perov/bandgap@1', // the same title but for case: servable name decides
          'ward-lab/bandgap-cnn@1',
          'ward-lab/formation-energy@1',
          'astro/galaxy-morphology@1',
          'lecun-lab/mnist-mlp@3',
          'astro/supernova-lightcurves@1',
        ]);
        const versions = await search({ q: 'mnist', sort: 'title', latest: false });
        expect(keys(versions)).toEqual(['lecun-lab/mnist-mlp@3', 'lecun-lab/mnist-mlp@2', 'lecun-lab/mnist-mlp@1']);
        const withText = await search({ q: 'classifier', sort: 'title' });
        expect(servables(withText)).toEqual(['ward-lab/bandgap-cnn', 'astro/galaxy-morphology', 'lecun-lab/mnist-mlp', 'astro/supernova-lightcurves']);
      });

      it('pages through the whole order, and never changes totals or facets', async () => {
        for (const sort of ['newest', 'title'] as const) {
          const whole = await search({ sort, latest: false, limit: 50 });
          const pages: string[] = [];
          for (let offset = 0; offset < whole.total; offset += 2) pages.push(...keys(await search({ sort, latest: false, limit: 2, offset })));
          expect(pages, sort).toEqual(keys(whole));
        }
        for (const query of [{}, { q: 'classifier' }, { domain: 'materials science', latest: false }, { viewer: { admin: true } }]) {
          const relevance = await search(query);
          for (const sort of ['newest', 'title'] as const) {
            const sorted = await search({ ...query, sort });
            expect(sorted.total, sort).toBe(relevance.total);
            expect(sorted.facets, sort).toEqual(relevance.facets);
            expect(servables(sorted).sort(), sort).toEqual(servables(relevance).sort());
          }
        }
      });

      it('refuses an unknown sort with MODELHUB_BAD_REQUEST', async () => {
        const refused = await search({ sort: 'popular' as SearchSort }).catch((error: unknown) => error);
        expect(isHubError(refused) && refused.code).toBe('MODELHUB_BAD_REQUEST');
      });
    });

    it('reports itself healthy', async () => {
      const health = await index.health();
      expect(health.ok).toBe(true);
    });
  });
}
