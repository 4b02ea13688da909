/**
 * ElasticsearchSearchIndex. With MODELHUB_ES_URL set (an Elasticsearch 8 or 9), the shared
 * SearchIndex contract runs against that server. No Elasticsearch can be installed on the machines
 * this project is built on, so otherwise the adapter is checked against
 * `@elastic/elasticsearch-mock`: the requests it sends (mapping, alias swap, query DSL, visibility
 * filter) and how it reads realistic responses. The test names and the log say which one ran.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import {
  ElasticsearchSearchIndex,
  INDEX_MAPPINGS,
  latestFilter,
  searchRequest,
  supersessions,
  toIndexedDocument,
} from '../../hub-server/adapters/elasticsearch-search-index.ts';
import { failure } from '../helpers/rejection.ts';
import { describeSearchIndexContract, searchFixtures } from './search-index-contract.ts';

// The mock is CommonJS and recognises only the CommonJS build of the client's error classes.
const require = createRequire(import.meta.url);
const Mock = require('@elastic/elasticsearch-mock') as typeof import('@elastic/elasticsearch-mock').default;
const { errors } = require('@elastic/elasticsearch') as typeof import('@elastic/elasticsearch');

const ES_URL = process.env.MODELHUB_ES_URL;


if (ES_URL) {
  console.info(`ElasticsearchSearchIndex: the contract suite runs against the Elasticsearch server at ${ES_URL}`);
  const auth = process.env.MODELHUB_ES_API_KEY
    ? { apiKey: process.env.MODELHUB_ES_API_KEY }
    : process.env.MODELHUB_ES_USERNAME
      ? { username: process.env.MODELHUB_ES_USERNAME, password: process.env.MODELHUB_ES_PASSWORD ?? '' }
      : undefined;
  describeSearchIndexContract(`elasticsearch (server at ${ES_URL})`, async () => {
    const alias = `modelhub-test-${randomUUID().slice(0, 8)}`;
    const index = new ElasticsearchSearchIndex({ node: ES_URL, auth, index: alias });
    const admin = new Client({ node: ES_URL, ...(auth ? { auth } : {}), headers: COMPATIBLE });
    return {
      index,
      cleanup: async () => {
        await admin.indices.delete({ index: `${alias}-v*`, ignore_unavailable: true, allow_no_indices: true });
        await admin.close();
      },
    };
  });
} else {
  console.info('ElasticsearchSearchIndex: no Elasticsearch server on this machine (MODELHUB_ES_URL is not set); checked against @elastic/elasticsearch-mock');
}

/** Lets the admin client talk to an 8.x server (the 9.x client asks for 9.x responses by default). */
const COMPATIBLE = {
  accept: 'application/vnd.elasticsearch+json; compatible-with=8',
  'content-type': 'application/vnd.elasticsearch+json; compatible-with=8',
};

interface Recorded {
  method: string;
  path: string;
  querystring: Record<string, string>;
  body: unknown;
}

/** A mock whose requests are recorded; `routes` answer them like an Elasticsearch 8 would. */
function mockedIndex(routes: (request: Recorded) => unknown) {
  const mock = new Mock();
  const requests: Recorded[] = [];
  mock.add({ method: ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'], path: '*' }, (params: { method: string | string[]; path: string | string[]; querystring?: Record<string, string>; body?: unknown }) => {
    const request: Recorded = {
      method: String(params.method),
      path: String(params.path),
      querystring: (params.querystring ?? {}) as Record<string, string>,
      body: params.body,
    };
    requests.push(request);
    // An existing index gets the supersession fields added to its mapping at first use.
    if (request.method === 'PUT' && request.path === '/modelhub/_mapping') return { acknowledged: true };
    return routes(request) as Record<string, unknown>;
  });
  const client = new Client({ node: 'http://localhost:9200', Connection: mock.getConnection() as never, maxRetries: 0 });
  const index = new ElasticsearchSearchIndex({ node: 'http://localhost:9200', index: 'modelhub', client });
  return { index, requests };
}

const notFound = (type: string, reason: string) =>
  new errors.ResponseError({
    body: { error: { type, reason }, status: 404 },
    statusCode: 404,
    headers: {},
    warnings: [],
    meta: {} as never,
  });

/** An alias that already points at modelhub-v3. */
const existingAlias = (request: Recorded): unknown => {
  if (request.method === 'GET' && request.path === '/_alias/modelhub') return { 'modelhub-v3': { aliases: { modelhub: {} } } };
  return undefined;
};

/** Bulk bodies arrive as NDJSON text or already split; either way, one object per line. */
function bulkLines(body: unknown): Record<string, unknown>[] {
  if (Array.isArray(body)) return body as Record<string, unknown>[];
  return String(body)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const emptySearch = { took: 1, timed_out: false, hits: { total: { value: 0, relation: 'eq' }, max_score: null, hits: [] } };

describe('ElasticsearchSearchIndex (elasticsearch-mock: no Elasticsearch server on this machine)', () => {
  it('creates <index>-v1 behind the alias on first use, with the designed mapping', async () => {
    const { index, requests } = mockedIndex((request) => {
      if (request.path === '/_alias/modelhub') return notFound('aliases_not_found_exception', 'alias [modelhub] missing');
      if (request.method === 'HEAD' && request.path === '/modelhub') return notFound('index_not_found_exception', 'no such index');
      if (request.method === 'PUT' && request.path === '/modelhub-v1') return { acknowledged: true, index: 'modelhub-v1' };
      if (request.path === '/modelhub/_search') return emptySearch;
      return undefined;
    });
    expect(await index.search({})).toEqual({ total: 0, hits: [], facets: { domain: {}, type: {}, owner: {}, author: {}, reproducibility: {} } });
    const create = requests.find((request) => request.method === 'PUT')!;
    expect(create.path).toBe('/modelhub-v1');
    const body = create.body as { aliases: unknown; mappings: typeof INDEX_MAPPINGS; settings: { analysis: unknown } };
    expect(body.aliases).toEqual({ modelhub: { is_write_index: true } });
    const properties = body.mappings.properties!;
    expect(body.mappings.dynamic).toBe('strict');
    // Keyword facets, analysed text, dates.
    for (const field of ['owner', 'type', 'authors', 'domains', 'visibility', 'dois', 'servable', 'reproducibility']) expect(properties[field]!.type, field).toBe('keyword');
    for (const field of ['title', 'descriptions', 'subjects', 'creators', 'name']) expect(properties[field]!.type, field).toBe('text');
    expect(properties.published_at!.type).toBe('date');
    // sort=title reads a lower-cased keyword of the shown title.
    expect(properties.hit_title).toMatchObject({ type: 'keyword', fields: { folded: { type: 'keyword', normalizer: 'modelhub_folded' } } });
    expect(body.settings.analysis).toMatchObject({ normalizer: { modelhub_folded: { type: 'custom', filter: ['lowercase'] } } });
    expect(properties.version!.type).toBe('integer');
    expect(body.settings.analysis).toMatchObject({ analyzer: { modelhub_text: { tokenizer: 'standard', filter: ['lowercase', 'asciifolding'] } } });
    // Created once: a second search does not ask again.
    await index.search({});
    expect(requests.filter((request) => request.path === '/_alias/modelhub')).toHaveLength(1);
  });

  it('indexes a version with refresh=wait_for and moves the latest mark from the older version', async () => {
    const mnist2 = searchFixtures.find((document) => document.hub.name === 'mnist-mlp' && document.hub.version === 2)!;
    const { index, requests } = mockedIndex((request) => {
      if (request.path === '/modelhub/_search') {
        return { ...emptySearch, hits: { total: { value: 1, relation: 'eq' }, max_score: 0, hits: [{ _index: 'modelhub-v3', _id: 'lecun-lab/mnist-mlp/v1', _score: 0, _source: { version: 1 } }] } };
      }
      if (request.path === '/_bulk') {
        return { took: 3, errors: false, items: bulkLines(request.body).filter((line) => 'index' in line || 'update' in line).map((line) => ({ [Object.keys(line)[0]!]: { status: 200, result: 'updated' } })) };
      }
      return existingAlias(request);
    });
    await index.index(mnist2);
    const versionsQuery = requests.find((request) => request.path === '/modelhub/_search')!;
    expect(versionsQuery.body).toMatchObject({ query: { bool: { filter: [{ term: { owner: 'lecun-lab' } }, { term: { 'name.keyword': 'mnist-mlp' } }] } } });
    const bulk = requests.find((request) => request.path === '/_bulk')!;
    expect(bulk.querystring.refresh).toBe('wait_for');
    expect(bulkLines(bulk.body)).toEqual([
      { index: { _index: 'modelhub', _id: 'lecun-lab/mnist-mlp/v2' } },
      toIndexedDocument(mnist2, true),
      { update: { _index: 'modelhub', _id: 'lecun-lab/mnist-mlp/v1' } },
      // Version 1 is superseded for everyone: version 2 is public.
      { doc: { is_latest: false, superseded_public: true, superseded_users: ['lecun-lab'], superseded_groups: [] } },
    ]);
    expect(toIndexedDocument(mnist2, true)).toMatchObject({
      servable: 'lecun-lab/mnist-mlp', version: 2, is_latest: true, visibility: 'public', type: 'onnx',
      authors: ['LeCun, Yann', 'Cortes, Corinna'], domains: ['computer vision'], dois: ['modelhub:lecun-lab/mnist-mlp/v2'],
    });
  });

  it('marks who sees a newer version, so that latest is per viewer: a private v2 never hides a public v1', () => {
    const audiences = [
      { version: 1, owner: 'remote-lab', visibility: 'public' },
      { version: 2, owner: 'remote-lab', visibility: 'private', shared_users: ['dana'] },
      { version: 3, owner: 'remote-lab', visibility: 'private', shared_groups: ['unmixers'] },
    ];
    const marks = supersessions(audiences);
    expect(Object.fromEntries(marks)).toEqual({
      3: { is_latest: true, superseded_public: false, superseded_users: [], superseded_groups: [] },
      2: { is_latest: false, superseded_public: false, superseded_users: ['remote-lab'], superseded_groups: ['unmixers'] },
      1: { is_latest: false, superseded_public: false, superseded_users: ['dana', 'remote-lab'], superseded_groups: ['unmixers'] },
    });
    // What visibilityFilter and latestFilter together keep for each viewer (the search contract's
    // expectations): anonymous v1, dana v2, a member of unmixers and the owner v3.
    const keeps = (viewer: { user?: string; groups?: string[] }) =>
      audiences
        .filter((a) => a.visibility === 'public' || a.owner === viewer.user || (viewer.user !== undefined && (a.shared_users ?? []).includes(viewer.user)) || (viewer.groups ?? []).some((g) => (a.shared_groups ?? []).includes(g)))
        .filter((a) => {
          const mark = marks.get(a.version)!;
          return !mark.superseded_public && !(viewer.user !== undefined && mark.superseded_users.includes(viewer.user)) && !(viewer.groups ?? []).some((g) => mark.superseded_groups.includes(g));
        })
        .map((a) => a.version);
    expect(keeps({})).toEqual([1]);
    expect(keeps({ user: 'dana' })).toEqual([2]);
    expect(keeps({ user: 'x', groups: ['unmixers'] })).toEqual([3]);
    expect(keeps({ user: 'remote-lab' })).toEqual([3]);
  });

  it('sends the query DSL for each filter, and user text only as words', () => {
    const bool = (query: Parameters<typeof searchRequest>[0]) => (searchRequest(query).query as { bool: { filter: unknown[]; must?: unknown[] } }).bool;
    const publicOnly = { bool: { should: [{ term: { visibility: 'public' } }], minimum_should_match: 1 } };
    expect(bool({}).filter).toEqual([latestFilter(undefined), publicOnly]);
    // latest: no newer version the viewer may see (documents from before the fields: is_latest).
    const known = { exists: { field: 'superseded_public' } };
    const legacy = { bool: { filter: [{ term: { is_latest: true } }], must_not: [known] } };
    expect(latestFilter(undefined)).toEqual({
      bool: { should: [{ bool: { filter: [known], must_not: [{ term: { superseded_public: true } }] } }, legacy], minimum_should_match: 1 },
    });
    expect(latestFilter({ user: 'dana', groups: ['lab', 'hpc'] })).toEqual({
      bool: {
        should: [
          { bool: { filter: [known], must_not: [{ term: { superseded_public: true } }, { term: { superseded_users: 'dana' } }, { terms: { superseded_groups: ['lab', 'hpc'] } }] } },
          legacy,
        ],
        minimum_should_match: 1,
      },
    });
    expect(latestFilter({ admin: true })).toEqual({ term: { is_latest: true } });
    expect(bool({ latest: false }).filter).toEqual([publicOnly]);
    expect(bool({ owner: ' Ward-Lab ' }).filter).toContainEqual({ term: { owner: 'ward-lab' } });
    expect(bool({ type: 'KERAS' }).filter).toContainEqual({ term: { type: 'keras' } });
    expect(bool({ domain: 'Materials Science' }).filter).toContainEqual({ term: { domains: 'materials science' } });
    expect(bool({ author: 'Huertas-Company, M*' }).filter).toContainEqual({ wildcard: { 'authors.folded': { value: '*huertas-company, m\\**' } } });
    // Several domains or authors, as the SDK joins them: any matches (the whole value too).
    expect(bool({ domain: 'Astronomy,Chemistry' }).filter).toContainEqual({ terms: { domains: ['astronomy,chemistry', 'astronomy', 'chemistry'] } });
    expect(bool({ author: 'Curie, M;Bohr' }).filter).toContainEqual({
      bool: {
        should: ['curie, m;bohr', 'curie, m', 'bohr'].map((value) => ({ wildcard: { 'authors.folded': { value: `*${value}*` } } })),
        minimum_should_match: 1,
      },
    });
    expect(bool({ doi: 'https://doi.org/10.1093/MNRAS/stv2818' }).filter).toContainEqual({ term: { dois: '10.1093/mnras/stv2818' } });

    expect(bool({ q: 'galaxy' }).must).toEqual([
      { multi_match: { query: 'galaxy', type: 'best_fields', tie_breaker: 0.3, fields: expect.arrayContaining(['title^10', 'descriptions^1', 'name^5']) } },
    ]);
    expect(bool({ q: 'mnist-mlp perovsk*' }).must).toEqual([
      expect.objectContaining({ multi_match: expect.objectContaining({ query: 'mnist mlp', type: 'phrase' }) }),
      expect.objectContaining({ multi_match: expect.objectContaining({ query: 'perovsk', type: 'phrase_prefix' }) }),
    ]);
    // Operators, quotes and field syntax never reach Elasticsearch as syntax: there is no query_string.
    const hostile = JSON.stringify(searchRequest({ q: '"foo AND ( title:galaxy -x NEAR(a b \\ *' }));
    expect(hostile).not.toMatch(/query_string|simple_query_string/);
    expect(bool({ q: '"foo AND ( title:galaxy' }).must!.map((clause) => (clause as { multi_match: { query: string } }).multi_match.query)).toEqual([
      'foo', 'AND', 'title galaxy',
    ]);
    expect(bool({ q: ' * ( " ' }).must).toBeUndefined();

    const scored = searchRequest({ q: 'galaxy', limit: 5, offset: 10 });
    expect(scored).toMatchObject({ from: 10, size: 5, track_total_hits: true, track_scores: true });
    expect(scored.sort).toEqual([{ _score: { order: 'desc' } }, { published_at: { order: 'desc' } }, { version: { order: 'desc' } }, { servable: { order: 'asc' } }]);
    expect(searchRequest({}).sort).toEqual([{ published_at: { order: 'desc' } }, { version: { order: 'desc' } }, { servable: { order: 'asc' } }]);
    expect(searchRequest({}).aggs).toEqual({
      domain: { terms: { field: 'domains', size: 50, order: [{ _count: 'desc' }, { _key: 'asc' }] } },
      type: { terms: { field: 'type', size: 50, order: [{ _count: 'desc' }, { _key: 'asc' }] } },
      owner: { terms: { field: 'owner', size: 50, order: [{ _count: 'desc' }, { _key: 'asc' }] } },
      author: { terms: { field: 'authors', size: 50, order: [{ _count: 'desc' }, { _key: 'asc' }] } },
      reproducibility: { terms: { field: 'reproducibility', size: 50, order: [{ _count: 'desc' }, { _key: 'asc' }] } },
    });
    expect(searchRequest({ reproducibility: 'drifted' }).query?.bool?.filter).toContainEqual({ term: { reproducibility: 'drifted' } });
    // Beyond Elasticsearch's result window: no hits, but still the total and facets.
    expect(searchRequest({ offset: 50_000, limit: 10 })).toMatchObject({ from: 0, size: 0 });
  });

  it('sorts by relevance, newest or title server-side, ending every order on servable A-Z and newest version', async () => {
    const tail = [{ published_at: { order: 'desc' } }, { version: { order: 'desc' } }, { servable: { order: 'asc' } }];
    expect(searchRequest({ q: 'galaxy', sort: 'relevance' }).sort).toEqual([{ _score: { order: 'desc' } }, ...tail]);
    expect(searchRequest({ sort: 'relevance' }).sort).toEqual(tail);
    // newest ignores the score but still reports it (track_scores).
    const newest = searchRequest({ q: 'galaxy', sort: 'newest' });
    expect(newest.sort).toEqual(tail);
    expect(newest.track_scores).toBe(true);
    expect(searchRequest({ sort: 'newest', latest: false }).sort).toEqual(tail);
    const title = searchRequest({ q: 'galaxy', sort: 'title', latest: false });
    expect(title.sort).toEqual([
      { 'hit_title.folded': { order: 'asc', unmapped_type: 'keyword' } },
      { servable: { order: 'asc' } },
      { version: { order: 'desc' } },
    ]);
    expect(title.track_scores).toBe(true);
    // The order changes nothing else: filters, text, page and facets are those of relevance.
    const { sort: _relevanceSort, ...relevanceRest } = searchRequest({ q: 'galaxy', latest: false, limit: 5, offset: 10 });
    for (const sort of ['newest', 'title'] as const) {
      const { sort: _sorted, ...rest } = searchRequest({ q: 'galaxy', latest: false, limit: 5, offset: 10, sort });
      expect(rest, sort).toEqual(relevanceRest);
    }
    // An order Elasticsearch has no clause for is refused before any request.
    expect(() => searchRequest({ sort: 'popular' as never })).toThrow(/sort must be one of relevance, newest, title/);

    // The mock cannot sort: check the body the adapter sends carries the order, and that the
    // reply keeps the order Elasticsearch answered in.
    const ordered = ['astro/galaxy-morphology', 'astro/supernova-lightcurves'];
    const { index, requests } = mockedIndex((request) =>
      request.path === '/modelhub/_search'
        ? {
            ...emptySearch,
            hits: {
              total: { value: 2, relation: 'eq' },
              max_score: null,
              hits: ordered.map((servable, i) => ({ _index: 'modelhub-v3', _id: `${servable}/v1`, _score: 2 - i, sort: ['x', servable, 1], _source: { servable, version: 1, hit_title: servable } })),
            },
          }
        : existingAlias(request),
    );
    const reply = await index.search({ q: 'classifier', sort: 'title' });
    expect(reply.hits.map((hit) => hit.servable)).toEqual(ordered);
    expect(reply.hits.map((hit) => hit.score)).toEqual([2, 1]);
    const sent = requests.find((request) => request.path === '/modelhub/_search')!.body as { sort: unknown };
    expect(sent.sort).toEqual(JSON.parse(JSON.stringify(title.sort)));
  });

  it('filters private servables by viewer: owner, shared users and groups; admins see all', () => {
    const visibility = (viewer: Parameters<typeof searchRequest>[0]['viewer']) =>
      (searchRequest({ viewer, latest: false }).query as { bool: { filter: unknown[] } }).bool.filter;
    expect(visibility(undefined)).toEqual([{ bool: { should: [{ term: { visibility: 'public' } }], minimum_should_match: 1 } }]);
    expect(visibility({ user: 'blaiszik', groups: ['hpc', 'argonne'] })).toEqual([
      {
        bool: {
          should: [
            { term: { visibility: 'public' } },
            { term: { owner: 'blaiszik' } },
            { term: { shared_users: 'blaiszik' } },
            { terms: { shared_groups: ['hpc', 'argonne'] } },
          ],
          minimum_should_match: 1,
        },
      },
    ]);
    expect(visibility({ admin: true, user: 'root' })).toEqual([]);
  });

  it('reads a realistic search response into the API reply, and sends the request it built', async () => {
    const response = {
      took: 4,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: {
        total: { value: 2, relation: 'eq' },
        max_score: null,
        hits: [
          {
            _index: 'modelhub-v3', _id: 'astro/galaxy-morphology/v1', _score: 7.41, sort: [7.41, 1767571200000, 1, 'astro/galaxy-morphology'],
            _source: { servable: 'astro/galaxy-morphology', version: 1, hit_title: 'Galaxy morphology classifier', authors: ['Huertas-Company, Marc'], domains: ['astronomy', 'computer vision'], type: 'tfjs', identifier: 'modelhub:astro/galaxy-morphology/v1' },
          },
          {
            _index: 'modelhub-v3', _id: 'ward-lab/bandgap-cnn/v1', _score: 0.83, sort: [0.83, 1767484800000, 1, 'ward-lab/bandgap-cnn'],
            _source: { servable: 'ward-lab/bandgap-cnn', version: 1, hit_title: 'Band gap CNN', authors: ['Ward, Logan'], domains: ['materials science'], type: 'keras', identifier: 'modelhub:ward-lab/bandgap-cnn/v1' },
          },
        ],
      },
      aggregations: {
        domain: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'astronomy', doc_count: 1 }, { key: 'computer vision', doc_count: 1 }, { key: 'materials science', doc_count: 1 }] },
        type: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'keras', doc_count: 1 }, { key: 'tfjs', doc_count: 1 }] },
        owner: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'astro', doc_count: 1 }, { key: 'ward-lab', doc_count: 1 }] },
        author: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'Huertas-Company, Marc', doc_count: 1 }, { key: 'Ward, Logan', doc_count: 1 }] },
        reproducibility: { doc_count_error_upper_bound: 0, sum_other_doc_count: 0, buckets: [{ key: 'drifted', doc_count: 1 }, { key: 'unchecked', doc_count: 1 }] },
      },
    };
    const { index, requests } = mockedIndex((request) => (request.path === '/modelhub/_search' ? response : existingAlias(request)));
    const query = { q: 'galaxy', domain: 'astronomy', viewer: { user: 'blaiszik' } };
    const reply = await index.search(query);
    expect(reply).toEqual({
      total: 2,
      hits: [
        { servable: 'astro/galaxy-morphology', version: 1, title: 'Galaxy morphology classifier', authors: ['Huertas-Company, Marc'], domains: ['astronomy', 'computer vision'], type: 'tfjs', identifier: 'modelhub:astro/galaxy-morphology/v1', score: 7.41 },
        { servable: 'ward-lab/bandgap-cnn', version: 1, title: 'Band gap CNN', authors: ['Ward, Logan'], domains: ['materials science'], type: 'keras', identifier: 'modelhub:ward-lab/bandgap-cnn/v1', score: 0.83 },
      ],
      facets: {
        domain: { astronomy: 1, 'computer vision': 1, 'materials science': 1 },
        type: { keras: 1, tfjs: 1 },
        owner: { astro: 1, 'ward-lab': 1 },
        author: { 'Huertas-Company, Marc': 1, 'Ward, Logan': 1 },
        reproducibility: { drifted: 1, unchecked: 1 },
      },
    });
    const sent = requests.find((request) => request.path === '/modelhub/_search')!;
    expect(sent.body).toEqual(JSON.parse(JSON.stringify(searchRequest(query))));

    // Without q the score is 0 whatever the response says, as the SQLite index answers.
    const unscored = await index.search({});
    expect(unscored.hits.map((hit) => hit.score)).toEqual([0, 0]);
  });

  it('rebuilds into a new versioned index and swaps the alias in one request', async () => {
    const { index, requests } = mockedIndex((request) => {
      if (request.method === 'PUT' && request.path === '/modelhub-v4') return { acknowledged: true, index: 'modelhub-v4' };
      if (request.path === '/_bulk') return { took: 3, errors: false, items: [] };
      if (request.path === '/modelhub-v4/_refresh') return { _shards: { total: 1, successful: 1, failed: 0 } };
      if (request.path === '/_aliases') return { acknowledged: true };
      if (request.method === 'DELETE' && request.path === '/modelhub-v3') return { acknowledged: true };
      if (request.path === '/modelhub/_count') return { count: 7, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 } };
      return existingAlias(request);
    });
    const documents = (async function* () {
      yield* searchFixtures;
    })();
    expect(await index.rebuild(documents)).toBe(7);
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /_alias/modelhub', // ensure the alias exists
      'PUT /modelhub/_mapping', // with the supersession fields
      'GET /_alias/modelhub', // which index it points at now
      'PUT /modelhub-v4',
      'POST /_bulk',
      'GET /modelhub-v4/_refresh',
      'POST /_aliases',
      'DELETE /modelhub-v3',
      'GET /modelhub/_count',
    ]);
    const create = requests.find((request) => request.path === '/modelhub-v4')!.body as Record<string, unknown>;
    // The new index gets the alias only in the swap, so searches never see it half-filled.
    expect(create.aliases).toBeUndefined();
    const bulk = requests.find((request) => request.path === '/_bulk')!;
    const lines = bulkLines(bulk.body);
    expect(lines.filter((line) => 'index' in line)).toHaveLength(searchFixtures.length);
    expect(lines.every((line) => !('index' in line) || (line.index as { _index: string })._index === 'modelhub-v4')).toBe(true);
    // Only each servable's highest version is marked latest: mnist-mlp v2, not v1, which is
    // superseded for everyone (v2 is public).
    const updates = lines.flatMap((line, i) => ('update' in line ? [{ id: (line.update as { _id: string })._id, doc: lines[i + 1]!.doc as Record<string, unknown> }] : []));
    const latest = updates.filter((update) => update.doc.is_latest === true).map((update) => update.id);
    expect(updates.find((update) => update.id === 'lecun-lab/mnist-mlp/v1')?.doc).toMatchObject({ is_latest: false, superseded_public: true });
    expect(latest).toContain('lecun-lab/mnist-mlp/v2');
    expect(latest).not.toContain('lecun-lab/mnist-mlp/v1');
    expect(latest).toHaveLength(new Set(searchFixtures.map((document) => `${document.hub.owner}/${document.hub.name}`)).size);
    expect(requests.find((request) => request.path === '/_aliases')!.body).toEqual({
      actions: [{ remove: { index: 'modelhub-v3', alias: 'modelhub' } }, { add: { index: 'modelhub-v4', alias: 'modelhub', is_write_index: true } }],
    });
  });

  it('translates failures: unreachable or 503 is MODELHUB_BACKEND_UNAVAILABLE, a refused query MODELHUB_INTERNAL', async () => {
    const down = mockedIndex(() => new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'));
    expect(await failure(down.index.search({ q: 'x' }))).toMatchObject({ code: 'MODELHUB_BACKEND_UNAVAILABLE' });
    expect(await down.index.health()).toMatchObject({ ok: false, backend: 'elasticsearch' });

    const busy = mockedIndex((request) =>
      request.path === '/modelhub/_search'
        ? new errors.ResponseError({ body: { error: { type: 'search_phase_execution_exception', reason: 'all shards failed' }, status: 503 }, statusCode: 503, headers: {}, warnings: [], meta: {} as never })
        : existingAlias(request),
    );
    expect(await failure(busy.index.search({}))).toMatchObject({ code: 'MODELHUB_BACKEND_UNAVAILABLE' });

    const refused = mockedIndex((request) =>
      request.path === '/modelhub/_search'
        ? new errors.ResponseError({ body: { error: { type: 'parsing_exception', reason: 'unknown query' }, status: 400 }, statusCode: 400, headers: {}, warnings: [], meta: {} as never })
        : existingAlias(request),
    );
    const refusal = await failure(refused.index.search({}));
    expect(refusal.code).toBe('MODELHUB_INTERNAL');
    expect(refusal.message).toMatch(/parsing_exception/);
  });
});

describe('ElasticsearchSearchIndex against a closed port (a real connection, no server)', () => {
  it('answers MODELHUB_BACKEND_UNAVAILABLE and reports unhealthy', async () => {
    const index = new ElasticsearchSearchIndex({ node: 'http://127.0.0.1:9', index: 'modelhub', requestTimeoutMs: 2_000 });
    try {
      const searched = await failure(index.search({ q: 'mnist' }));
      expect(searched.code).toBe('MODELHUB_BACKEND_UNAVAILABLE');
      expect(searched.message).toMatch(/127\.0\.0\.1:9/);
      expect(await index.health()).toMatchObject({ ok: false, backend: 'elasticsearch' });
    } finally {
      await index.close();
    }
  });
});
