/**
 * The scalable search index on Elasticsearch 8 (or 9), answering the same queries with the same
 * facets as the SQLite index (`test/contract/search-index-contract.ts` holds both to it):
 * every word of `q` must match in some field, a trailing `*` is a prefix, a title match outweighs a
 * description match, no `q` lists newest first with score 0, `latest` keeps the highest indexed
 * version of each servable that the viewer may see, filters are exact and case-insensitive except `author` (a substring of
 * a creator name), and totals and facets count only what the viewer may see.
 *
 * Documents live in versioned indexes (`<index>-v1`, `-v2`, ...) behind the alias `<index>`.
 * `rebuild` fills a new version while searches keep reading the old one, then moves the alias in
 * one atomic request and deletes the old index, so `modelhub reindex` never takes search down.
 * Writes wait for a refresh (`refresh: 'wait_for'`), so a servable is searchable once its publish
 * task reports SUCCEEDED.
 */
import { Client, errors } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import type { SearchHit, SearchReply, SearchSort } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import { filterAlternatives, reproducibilityOf, type IndexQuery, type SearchIndex } from '../../schemas/ports/search-index.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import { normalizeDoi, sortOf } from './sqlite-search-index.ts';

export interface ElasticsearchSearchIndexOptions {
  /** e.g. `http://127.0.0.1:9200` */
  node: string;
  auth?: { username: string; password: string } | { apiKey: string };
  /** The alias searches read; concrete indexes are `<index>-v<N>`. */
  index: string;
  /** A ready client (tests pass one built on `@elastic/elasticsearch-mock`'s connection). */
  client?: Client;
  /** Per-request timeout; a search should fail fast rather than hang a route. */
  requestTimeoutMs?: number;
  /** Retries of a failed request on another try or node (1). */
  maxRetries?: number;
}

/** Same weights as the SQLite index's bm25 columns: the title counts most. */
export const TEXT_FIELDS = [
  'title^10', 'descriptions^1', 'subjects^3', 'creators^3', 'domains.text^3', 'owner.text^2', 'name^5', 'type.text^2',
] as const;
const FACET_SIZE = 50;
const MAX_QUERY_WORDS = 32;
/** Elasticsearch's default index.max_result_window: from + size beyond it is refused. */
const MAX_WINDOW = 10_000;
const BULK_BATCH = 500;

/** The index design: keyword facets, analysed text, dates. `dynamic: strict` keeps out stray fields. */
export const INDEX_SETTINGS: estypes.IndicesIndexSettings = {
  number_of_shards: 1,
  analysis: {
    // Like SQLite's unicode61 with remove_diacritics: words, lower case, accents folded.
    analyzer: { modelhub_text: { type: 'custom', tokenizer: 'standard', filter: ['lowercase', 'asciifolding'] } },
    // Filters and facets fold case only, as the SQLite index's term table does.
    normalizer: { modelhub_folded: { type: 'custom', filter: ['lowercase'] } },
  },
};

export const INDEX_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    servable: { type: 'keyword' },
    owner: { type: 'keyword', fields: { text: { type: 'text', analyzer: 'modelhub_text' } } },
    name: { type: 'text', analyzer: 'modelhub_text', fields: { keyword: { type: 'keyword' } } },
    version: { type: 'integer' },
    is_latest: { type: 'boolean' },
    /**
     * Who sees a newer version of the same servable (see Supersession): what makes `latest` the
     * latest version each viewer may see, with one filter.
     */
    superseded_public: { type: 'boolean' },
    superseded_users: { type: 'keyword' },
    superseded_groups: { type: 'keyword' },
    visibility: { type: 'keyword' },
    shared_users: { type: 'keyword' },
    shared_groups: { type: 'keyword' },
    type: { type: 'keyword', fields: { text: { type: 'text', analyzer: 'modelhub_text' } } },
    title: { type: 'text', analyzer: 'modelhub_text' },
    descriptions: { type: 'text', analyzer: 'modelhub_text' },
    subjects: { type: 'text', analyzer: 'modelhub_text' },
    creators: { type: 'text', analyzer: 'modelhub_text' },
    /** Creator names as written: the author facet's keys. */
    authors: { type: 'keyword', fields: { folded: { type: 'keyword', normalizer: 'modelhub_folded' } } },
    /** Folded, so the filter and the facet ignore case as SQLite's do. */
    domains: { type: 'keyword', normalizer: 'modelhub_folded', fields: { text: { type: 'text', analyzer: 'modelhub_text' } } },
    /** The version's identifier, its DataCite DOI and related identifiers, normalized. */
    dois: { type: 'keyword' },
    published_at: { type: 'date' },
    identifier: { type: 'keyword', index: false },
    /**
     * The title the hit shows; `.folded` (lower case, as the SQLite index folds it) is what
     * sort=title orders by. Indexes made before it existed lack it until `modelhub reindex`.
     */
    hit_title: { type: 'keyword', index: false, fields: { folded: { type: 'keyword', normalizer: 'modelhub_folded' } } },
    /** The last reproducibility check's status, or `unchecked` (docs/provenance.md). */
    reproducibility: { type: 'keyword' },
  },
};

const SUPERSESSION_MAPPINGS = {
  superseded_public: INDEX_MAPPINGS.properties!.superseded_public!,
  superseded_users: INDEX_MAPPINGS.properties!.superseded_users!,
  superseded_groups: INDEX_MAPPINGS.properties!.superseded_groups!,
  // Added with reproducibility checks; versions indexed before it count as `unchecked` only after `modelhub reindex`.
  reproducibility: INDEX_MAPPINGS.properties!.reproducibility!,
};

/** What the index stores per version. */
interface IndexedDocument {
  servable: string;
  owner: string;
  name: string;
  version: number;
  is_latest: boolean;
  superseded_public: boolean;
  superseded_users: string[];
  superseded_groups: string[];
  visibility: 'public' | 'private';
  shared_users: string[];
  shared_groups: string[];
  type: string;
  title: string[];
  descriptions: string[];
  subjects: string[];
  creators: string[];
  authors: string[];
  domains: string[];
  dois: string[];
  published_at: string;
  identifier: string;
  hit_title: string;
  reproducibility: string;
}

/**
 * Who may see some newer version of the same servable: everyone (a newer public version), these
 * users (owners and users newer private versions are shared with) or members of these groups.
 * A viewer's latest version is one no newer version of which they may see, so `latest` becomes
 * "not superseded for this viewer" (an admin, who sees everything, keeps `is_latest`).
 */
export interface Supersession {
  superseded_public: boolean;
  superseded_users: string[];
  superseded_groups: string[];
}

const NOT_SUPERSEDED: Supersession = { superseded_public: false, superseded_users: [], superseded_groups: [] };

/** Who may see one version: the fields of IndexedDocument that say so. */
export interface Audience {
  version: number;
  owner: string;
  visibility?: string;
  shared_users?: string[];
  shared_groups?: string[];
}

/** For each version (by number), who sees a newer one, and whether it is the highest of all. */
export function supersessions(audiences: readonly Audience[]): Map<number, Supersession & { is_latest: boolean }> {
  const newestFirst = [...audiences].sort((a, b) => b.version - a.version);
  const result = new Map<number, Supersession & { is_latest: boolean }>();
  let seenPublic = false;
  const users = new Set<string>();
  const groups = new Set<string>();
  newestFirst.forEach((audience, i) => {
    result.set(audience.version, { is_latest: i === 0, superseded_public: seenPublic, superseded_users: [...users].sort(), superseded_groups: [...groups].sort() });
    if (audience.visibility === 'public') seenPublic = true;
    users.add(audience.owner);
    for (const user of audience.shared_users ?? []) users.add(user);
    for (const group of audience.shared_groups ?? []) groups.add(group);
  });
  return result;
}

export function toIndexedDocument(document: PublishedMetadata, isLatest: boolean, supersession: Supersession = NOT_SUPERSEDED): IndexedDocument {
  const { hub, datacite } = document;
  const dois = new Set<string>([normalizeDoi(hub.identifier)]);
  if (datacite.identifier) dois.add(normalizeDoi(datacite.identifier.identifier));
  for (const related of datacite.relatedIdentifiers ?? []) dois.add(normalizeDoi(related.relatedIdentifier));
  return {
    servable: `${hub.owner}/${hub.name}`,
    owner: hub.owner,
    name: hub.name,
    version: hub.version,
    is_latest: isLatest,
    ...supersession,
    visibility: hub.visibility === 'public' ? 'public' : 'private',
    shared_users: hub.shared_with?.users ?? [],
    shared_groups: hub.shared_with?.groups ?? [],
    type: document.servable.type,
    title: datacite.titles.map((title) => title.title),
    descriptions: (datacite.descriptions ?? []).map((description) => description.description),
    subjects: (datacite.subjects ?? []).map((subject) => subject.subject),
    creators: datacite.creators.map((creator) => [creator.name, creator.givenName, creator.familyName].filter(Boolean).join(' ')),
    authors: datacite.creators.map((creator) => creator.name),
    domains: hub.domains ?? [],
    dois: [...dois].filter((doi) => doi !== ''),
    published_at: hub.publication_date,
    identifier: hub.identifier,
    hit_title: datacite.titles[0]?.title ?? hub.name,
    reproducibility: reproducibilityOf(document),
  };
}

const documentId = (owner: string, name: string, version: number): string => `${owner}/${name}/v${version}`;

/**
 * The user's text as query clauses, cut up the way the SQLite index cuts it: each
 * whitespace-separated chunk's words must appear (as a phrase when the chunk holds several, as in
 * `mnist-mlp`); a trailing `*` makes the last word a prefix. The text never becomes query syntax.
 */
export function textClauses(q: string): estypes.QueryDslQueryContainer[] {
  const clauses: estypes.QueryDslQueryContainer[] = [];
  for (const chunk of q.split(/\s+/)) {
    const words = chunk.match(/[\p{L}\p{N}\p{M}]+/gu);
    if (!words) continue;
    const query = words.join(' ');
    const prefix = chunk.endsWith('*');
    clauses.push({
      multi_match: {
        query,
        fields: [...TEXT_FIELDS],
        type: prefix ? 'phrase_prefix' : words.length > 1 ? 'phrase' : 'best_fields',
        ...(prefix || words.length > 1 ? {} : { tie_breaker: 0.3 }),
      },
    });
    if (clauses.length === MAX_QUERY_WORDS) break;
  }
  return clauses;
}

/** Who may see what: public, or the owner, a user or group it is shared with; admins see all. */
export function visibilityFilter(viewer: Viewer | undefined): estypes.QueryDslQueryContainer | undefined {
  if (viewer?.admin) return undefined;
  const should: estypes.QueryDslQueryContainer[] = [{ term: { visibility: 'public' } }];
  if (viewer?.user !== undefined) {
    should.push({ term: { owner: viewer.user } }, { term: { shared_users: viewer.user } });
  }
  if (viewer?.groups && viewer.groups.length > 0) should.push({ terms: { shared_groups: viewer.groups } });
  return { bool: { should, minimum_should_match: 1 } };
}

/**
 * `latest` for this viewer: no newer version of the servable is visible to them. Documents indexed
 * before the supersession fields existed fall back to `is_latest` until `modelhub reindex`.
 */
export function latestFilter(viewer: Viewer | undefined): estypes.QueryDslQueryContainer {
  if (viewer?.admin) return { term: { is_latest: true } };
  const superseded: estypes.QueryDslQueryContainer[] = [{ term: { superseded_public: true } }];
  if (viewer?.user !== undefined) superseded.push({ term: { superseded_users: viewer.user } });
  if (viewer?.groups && viewer.groups.length > 0) superseded.push({ terms: { superseded_groups: viewer.groups } });
  const known: estypes.QueryDslQueryContainer = { exists: { field: 'superseded_public' } };
  return {
    bool: {
      should: [
        { bool: { filter: [known], must_not: superseded } },
        { bool: { filter: [{ term: { is_latest: true } }], must_not: [known] } },
      ],
      minimum_should_match: 1,
    },
  };
}

const desc = (field: string): estypes.SortCombinations => ({ [field]: { order: 'desc' } });
const asc = (field: string): estypes.SortCombinations => ({ [field]: { order: 'asc' } });

/**
 * The sort list for each order, ending, as the SQLite index's do, on the servable name A-Z and the
 * newest version so ties come out the same. `unmapped_type` keeps an index made before
 * `hit_title.folded` existed answering (in servable order) until it is rebuilt.
 */
export function sortClauses(sort: SearchSort, scored: boolean): estypes.SortCombinations[] {
  switch (sort) {
    case 'newest':
      return [desc('published_at'), desc('version'), asc('servable')];
    case 'title':
      return [{ 'hit_title.folded': { order: 'asc', unmapped_type: 'keyword' } }, asc('servable'), desc('version')];
    case 'relevance':
      return [...(scored ? [desc('_score')] : []), desc('published_at'), desc('version'), asc('servable')];
  }
}

const escapeWildcard = (value: string): string => value.replace(/[\\*?]/g, (character) => `\\${character}`);

/** The whole search request body for a query: filters, text, sorting, page and facets. */
export function searchRequest(query: IndexQuery): estypes.SearchRequest {
  const sort = sortOf(query);
  const filter: estypes.QueryDslQueryContainer[] = [];
  if (query.latest !== false) filter.push(latestFilter(query.viewer));
  if (query.owner !== undefined) filter.push({ term: { owner: query.owner.trim().toLowerCase() } });
  if (query.type !== undefined) filter.push({ term: { type: query.type.trim().toLowerCase() } });
  if (query.domain !== undefined) {
    const domains = filterAlternatives(query.domain, ',');
    filter.push(domains.length === 1 ? { term: { domains: domains[0]! } } : { terms: { domains } });
  }
  if (query.author !== undefined) {
    const authors = filterAlternatives(query.author, ';').map((author) => ({ wildcard: { 'authors.folded': { value: `*${escapeWildcard(author)}*` } } }));
    filter.push(authors.length === 1 ? authors[0]! : { bool: { should: authors, minimum_should_match: 1 } });
  }
  if (query.doi !== undefined) filter.push({ term: { dois: normalizeDoi(query.doi) } });
  if (query.reproducibility !== undefined) filter.push({ term: { reproducibility: query.reproducibility } });
  const visible = visibilityFilter(query.viewer);
  if (visible) filter.push(visible);

  const must = query.q === undefined ? [] : textClauses(query.q);
  const scored = must.length > 0;
  const limit = Math.max(0, Math.min(query.limit ?? 20, 500));
  const offset = Math.max(0, query.offset ?? 0);
  const fits = offset < MAX_WINDOW;
  const terms = (field: string): estypes.AggregationsAggregationContainer => ({
    terms: { field, size: FACET_SIZE, order: [{ _count: 'desc' }, { _key: 'asc' }] },
  });
  return {
    query: { bool: { filter, ...(scored ? { must } : {}) } },
    from: fits ? offset : 0,
    size: fits ? Math.min(limit, MAX_WINDOW - offset) : 0,
    track_total_hits: true,
    ...(scored ? { track_scores: true } : {}),
    // Scores are still computed and reported when another order is asked for.
    sort: sortClauses(sort, scored),
    _source: ['servable', 'version', 'hit_title', 'authors', 'domains', 'type', 'identifier'],
    aggs: { domain: terms('domains'), type: terms('type'), owner: terms('owner'), author: terms('authors'), reproducibility: terms('reproducibility') },
  };
}

type Buckets = { buckets?: { key: string | number; doc_count: number }[] };

/** An Elasticsearch search response as the API's SearchReply. */
export function toSearchReply(response: estypes.SearchResponse<Partial<IndexedDocument>>, scored: boolean): SearchReply {
  const facet = (name: string): Record<string, number> => {
    const buckets = (response.aggregations?.[name] as Buckets | undefined)?.buckets ?? [];
    return Object.fromEntries(buckets.map((bucket) => [String(bucket.key), bucket.doc_count]));
  };
  const total = response.hits.total;
  return {
    total: typeof total === 'number' ? total : (total?.value ?? 0),
    hits: response.hits.hits.map((hit): SearchHit => {
      const source = hit._source ?? {};
      return {
        servable: source.servable ?? '',
        version: source.version ?? 0,
        title: source.hit_title ?? '',
        authors: source.authors ?? [],
        domains: source.domains ?? [],
        type: source.type ?? '',
        identifier: source.identifier ?? '',
        score: scored ? (hit._score ?? 0) : 0,
      };
    }),
    facets: { domain: facet('domain'), type: facet('type'), owner: facet('owner'), author: facet('author'), reproducibility: facet('reproducibility') },
  };
}

export class ElasticsearchSearchIndex implements SearchIndex {
  readonly kind = 'elasticsearch';
  readonly alias: string;
  private readonly client: Client;
  private readonly ownsClient: boolean;
  private readonly node: string;
  private ready?: Promise<void>;
  /** A rebuild in progress in this process: new writes go to its index too, so none are lost. */
  private rebuilding?: string;

  constructor(options: ElasticsearchSearchIndexOptions) {
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(options.index) || options.index.length > 200) {
      throw new HubError('BAD_REQUEST', `"${options.index}" is not an Elasticsearch index name (lower case letters, digits, _ . -)`);
    }
    this.alias = options.index;
    this.node = options.node;
    this.ownsClient = options.client === undefined;
    const clientOptions: ConstructorParameters<typeof Client>[0] = {
      node: options.node,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      maxRetries: options.maxRetries ?? 1,
      // The 9.x client asks for 9.x responses, which an 8.x server refuses; 8.x and 9.x servers both
      // answer requests made for 8.x.
      headers: { accept: COMPATIBLE_JSON, 'content-type': COMPATIBLE_JSON },
      ...(options.auth ? { auth: options.auth } : {}),
    };
    this.client = options.client ?? new Client(clientOptions);
  }

  async index(document: PublishedMetadata): Promise<void> {
    await this.ensureIndex();
    const { owner, name, version } = document.hub;
    try {
      const others = (await this.audiencesOf(owner, name)).filter((audience) => audience.version !== version);
      const indexed = toIndexedDocument(document, false);
      const marks = supersessions([...others, { ...indexed, version }]);
      const own = marks.get(version)!;
      const { is_latest: isLatest, ...supersession } = own;
      const operations: unknown[] = [];
      operations.push({ index: { _index: this.alias, _id: documentId(owner, name, version) } }, toIndexedDocument(document, isLatest, supersession));
      for (const other of others) {
        operations.push({ update: { _index: this.alias, _id: documentId(owner, name, other.version) } }, { doc: marks.get(other.version) });
      }
      await this.bulk(operations, 'wait_for');
      if (this.rebuilding) {
        const target = this.rebuilding;
        await this.bulk([{ index: { _index: target, _id: documentId(owner, name, version) } }, toIndexedDocument(document, isLatest, supersession)], false);
      }
    } catch (error) {
      throw this.translate(error, `indexing ${owner}/${name} version ${version}`);
    }
  }

  async remove(owner: string, name: string, version?: number): Promise<void> {
    await this.ensureIndex();
    try {
      const filter: estypes.QueryDslQueryContainer[] = [{ term: { owner } }, { term: { 'name.keyword': name } }];
      if (version !== undefined) filter.push({ term: { version } });
      await this.client.deleteByQuery({ index: this.alias, query: { bool: { filter } }, refresh: true, conflicts: 'proceed' });
      const remaining = await this.audiencesOf(owner, name);
      if (remaining.length > 0) {
        const marks = supersessions(remaining);
        const operations = remaining.flatMap((other) => [
          { update: { _index: this.alias, _id: documentId(owner, name, other.version) } },
          { doc: marks.get(other.version) },
        ]);
        await this.bulk(operations, 'wait_for');
      }
    } catch (error) {
      throw this.translate(error, `removing ${owner}/${name}${version === undefined ? '' : ` version ${version}`}`);
    }
  }

  async search(query: IndexQuery): Promise<SearchReply> {
    await this.ensureIndex();
    const request = searchRequest(query);
    try {
      const response = await this.client.search<Partial<IndexedDocument>>({ index: this.alias, ...request });
      return toSearchReply(response, request.track_scores === true);
    } catch (error) {
      throw this.translate(error, 'searching');
    }
  }

  async rebuild(documents: AsyncIterable<PublishedMetadata>): Promise<number> {
    await this.ensureIndex();
    try {
      const previous = await this.concreteIndexes();
      const next = `${this.alias}-v${Math.max(0, ...previous.map(versionOf)) + 1}`;
      await this.createIndex(next, false);
      this.rebuilding = next;
      try {
        // Streamed in batches; only each version's audience is remembered, then each servable's
        // latest mark and supersession are set where they differ from a lone version's.
        const audiences = new Map<string, Audience[]>();
        let batch: unknown[] = [];
        for await (const document of documents) {
          const { owner, name, version } = document.hub;
          const key = `${owner}/${name}`;
          const indexed = toIndexedDocument(document, false);
          const known = audiences.get(key) ?? [];
          known.push({ version, owner, visibility: indexed.visibility, shared_users: indexed.shared_users, shared_groups: indexed.shared_groups });
          audiences.set(key, known);
          batch.push({ index: { _index: next, _id: documentId(owner, name, version) } }, indexed);
          if (batch.length >= 2 * BULK_BATCH) {
            await this.bulk(batch, false);
            batch = [];
          }
        }
        for (const [key, versions] of audiences) {
          for (const [version, mark] of supersessions(versions)) {
            if (!mark.is_latest && !mark.superseded_public && mark.superseded_users.length === 0 && mark.superseded_groups.length === 0) continue;
            batch.push({ update: { _index: next, _id: `${key}/v${version}` } }, { doc: mark });
            if (batch.length >= 2 * BULK_BATCH) {
              await this.bulk(batch, false);
              batch = [];
            }
          }
        }
        if (batch.length > 0) await this.bulk(batch, false);
        await this.client.indices.refresh({ index: next });
        // One request moves the alias: every search reads either the old index or the new one.
        await this.client.indices.updateAliases({
          actions: [
            ...previous.map((index) => ({ remove: { index, alias: this.alias } })),
            { add: { index: next, alias: this.alias, is_write_index: true } },
          ],
        });
      } catch (error) {
        await this.client.indices.delete({ index: next, ignore_unavailable: true }).catch(() => undefined);
        throw error;
      } finally {
        this.rebuilding = undefined;
      }
      if (previous.length > 0) await this.client.indices.delete({ index: previous, ignore_unavailable: true });
      const { count } = await this.client.count({ index: this.alias });
      return count;
    } catch (error) {
      throw this.translate(error, 'rebuilding the index');
    }
  }

  async health(): Promise<BackendHealth> {
    try {
      const indexes = await this.concreteIndexes({ requestTimeout: 3_000, maxRetries: 0 });
      const detail = indexes.length > 0 ? `${this.node}: ${this.alias} → ${indexes.join(', ')}` : `${this.node}: ${this.alias} is created on first use`;
      return { ok: true, backend: this.kind, detail };
    } catch (error) {
      return { ok: false, backend: this.kind, detail: this.translate(error, 'checking the index').message };
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }

  /** Creates `<alias>-v1` behind the alias on first use. */
  private ensureIndex(): Promise<void> {
    this.ready ??= (async () => {
      try {
        const existing = await this.concreteIndexes();
        if (existing.length === 0) await this.createIndex(`${this.alias}-v1`, true);
        // An index made before the supersession fields: add them (new fields are a compatible change).
        else await this.client.indices.putMapping({ index: this.alias, properties: SUPERSESSION_MAPPINGS });
      } catch (error) {
        this.ready = undefined;
        throw this.translate(error, `creating the index ${this.alias}`);
      }
    })();
    return this.ready;
  }

  private async createIndex(index: string, withAlias: boolean): Promise<void> {
    try {
      await this.client.indices.create({
        index,
        settings: INDEX_SETTINGS,
        mappings: INDEX_MAPPINGS,
        ...(withAlias ? { aliases: { [this.alias]: { is_write_index: true } } } : {}),
      });
    } catch (error) {
      // Another hub process created it first: the same mapping, nothing to do.
      if (withAlias && isResponseError(error) && errorType(error) === 'resource_already_exists_exception') return;
      throw error;
    }
  }

  /** The concrete indexes behind the alias (one, except in the middle of a swap). */
  private async concreteIndexes(options: { requestTimeout?: number; maxRetries?: number } = {}): Promise<string[]> {
    try {
      const aliases = await this.client.indices.getAlias({ name: this.alias }, options);
      return Object.keys(aliases).sort((a, b) => versionOf(a) - versionOf(b));
    } catch (error) {
      if (isResponseError(error) && error.statusCode === 404) {
        if (errorType(error) === undefined || errorType(error) === 'aliases_not_found_exception') {
          // Nothing yet, unless a plain index holds the name the alias needs.
          const exists = await this.client.indices.exists({ index: this.alias }, options);
          if (exists) throw new HubError('INTERNAL', `"${this.alias}" is an index, not an alias: remove it or choose another MODELHUB_ES_INDEX`);
          return [];
        }
      }
      throw error;
    }
  }

  /** Who may see each indexed version of owner/name. */
  private async audiencesOf(owner: string, name: string): Promise<Audience[]> {
    const response = await this.client.search<Partial<Audience>>({
      index: this.alias,
      query: { bool: { filter: [{ term: { owner } }, { term: { 'name.keyword': name } }] } },
      _source: ['version', 'visibility', 'shared_users', 'shared_groups'],
      size: MAX_WINDOW,
    });
    return response.hits.hits.flatMap((hit) => {
      const source = hit._source;
      if (typeof source?.version !== 'number') return [];
      return [{ version: source.version, owner, visibility: source.visibility, shared_users: source.shared_users ?? [], shared_groups: source.shared_groups ?? [] }];
    });
  }

  private async bulk(operations: unknown[], refresh: 'wait_for' | false): Promise<void> {
    const response = await this.client.bulk(
      { operations: operations as estypes.BulkRequest['operations'], refresh },
      { headers: { 'content-type': COMPATIBLE_NDJSON } },
    );
    if (response.errors) {
      const failed = response.items.map((item) => Object.values(item)[0]).find((result) => result?.error);
      throw new HubError('INTERNAL', `Elasticsearch refused a document: ${failed?.error?.type ?? 'error'}: ${failed?.error?.reason ?? 'unknown'}`);
    }
  }

  /** Client errors into catalog errors, at this boundary. */
  private translate(error: unknown, doing: string): HubError {
    if (error instanceof HubError) return error;
    // By name, not instanceof: the client ships separate ESM and CommonJS builds of its error classes.
    const name = (error as { name?: string } | undefined)?.name ?? '';
    if (['ConnectionError', 'NoLivingConnectionsError', 'TimeoutError', 'RequestAbortedError'].includes(name)) {
      return new HubError('BACKEND_UNAVAILABLE', `Elasticsearch at ${this.node} cannot be reached while ${doing}: ${(error as Error).message}`, { cause: error, retryAfter: 5 });
    }
    if (isResponseError(error)) {
      const status = error.statusCode ?? 0;
      const reason = errorReason(error);
      if (status === 429 || status === 502 || status === 503 || status === 504) {
        return new HubError('BACKEND_UNAVAILABLE', `Elasticsearch at ${this.node} is overloaded or starting (${status}) while ${doing}: ${reason}`, { cause: error, retryAfter: 5 });
      }
      if (status === 401 || status === 403) {
        return new HubError('BACKEND_UNAVAILABLE', `Elasticsearch at ${this.node} refused this hub's credentials (${status}) while ${doing}`, { cause: error });
      }
      return new HubError('INTERNAL', `Elasticsearch failed while ${doing} (${status}): ${reason}`, { cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new HubError('INTERNAL', `Elasticsearch failed while ${doing}: ${message}`, { cause: error });
  }
}

const COMPATIBLE_JSON = 'application/vnd.elasticsearch+json; compatible-with=8';
const COMPATIBLE_NDJSON = 'application/vnd.elasticsearch+x-ndjson; compatible-with=8';

function versionOf(index: string): number {
  const match = /-v(\d+)$/.exec(index);
  return match ? Number(match[1]) : 0;
}

function isResponseError(error: unknown): error is errors.ResponseError {
  return (error as { name?: string } | undefined)?.name === 'ResponseError';
}

function errorType(error: errors.ResponseError): string | undefined {
  const body = error.body as { error?: { type?: string } | string } | undefined;
  return typeof body?.error === 'object' ? body.error.type : undefined;
}

function errorReason(error: errors.ResponseError): string {
  const body = error.body as { error?: { type?: string; reason?: string } | string } | undefined;
  if (typeof body?.error === 'object') return `${body.error.type ?? 'error'}: ${body.error.reason ?? ''}`;
  if (typeof body?.error === 'string') return body.error;
  return error.message;
}
