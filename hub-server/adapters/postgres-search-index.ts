/**
 * Full-text search and facets in PostgreSQL (MODELHUB_SEARCH=postgres), so that N replicas need no
 * search server of their own: a `tsvector` per version behind a GIN index, ranked with `ts_rank`
 * (title counts most), plus a side table of exact-match terms (domains, authors, DOIs, sharing)
 * for filters, facets and visibility, as in the embedded index.
 *
 * Words are cut and folded here, in JavaScript, the same way for documents and queries (letters,
 * digits and marks; lower case; diacritics removed, as FTS5's `remove_diacritics`), and handed to
 * PostgreSQL as ready lexemes with positions: no text-search configuration, dictionary or
 * extension is needed, and the user's `q` is never tsquery syntax. Every word must match; a chunk
 * like `mnist-mlp` matches the adjacent words; a trailing `*` makes a prefix.
 */
import { SEARCH_SORTS, type SearchHit, type SearchReply, type SearchSort } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import { filterAlternatives, reproducibilityOf, type IndexQuery, type SearchIndex } from '../../schemas/ports/search-index.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { PostgresDatabase, Queryable } from './postgres-database.ts';

const FACET_SIZE = 50;
const MAX_QUERY_WORDS = 32;
/** PostgreSQL refuses lexemes over 2047 bytes; real words are far shorter. */
const MAX_WORD_CHARS = 200;
/** Positions between fields, so that a phrase never spans two fields. */
const FIELD_GAP = 100;
/** ts_rank weights for D, C, B, A: A title, B name, C subjects/creators/domains, D the rest. */
const RANK_WEIGHTS = '{0.1, 0.3, 0.6, 1.0}';

/** Every order ends on the servable name A-Z and then the newest version, as the other indexes do. */
const ORDER_BY: Record<SearchSort, string> = {
  relevance: 'm.score DESC, m.published_at DESC, m.version DESC, m.servable COLLATE "C" ASC',
  newest: 'm.published_at DESC, m.version DESC, m.servable COLLATE "C" ASC',
  title: 'm.title_key COLLATE "C" ASC, m.servable COLLATE "C" ASC, m.version DESC',
};

function sortOf(query: { sort?: string }): SearchSort {
  const sort = query.sort ?? 'relevance';
  if (!(SEARCH_SORTS as readonly string[]).includes(sort)) {
    throw new HubError('BAD_REQUEST', `sort must be one of ${SEARCH_SORTS.join(', ')}, not "${sort}"`);
  }
  return sort as SearchSort;
}

/** DOIs are case-insensitive and written with or without a resolver prefix. */
function normalizeDoi(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/, '');
}

/** The words of a text, folded: lower case, without diacritics. */
export function foldedWords(text: string): string[] {
  const words: string[] = [];
  for (const raw of text.match(/[\p{L}\p{N}\p{M}]+/gu) ?? []) {
    const folded = raw.toLowerCase().normalize('NFKD').replace(/\p{M}/gu, '').slice(0, MAX_WORD_CHARS);
    if (folded !== '') words.push(folded);
  }
  return words;
}

const lexeme = (word: string): string => `'${word.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** A tsvector literal of weighted fields, each word at its position. */
function tsvectorOf(fields: readonly { weight: 'A' | 'B' | 'C' | 'D'; text: string }[]): string {
  const positions = new Map<string, string[]>();
  let position = 1;
  for (const field of fields) {
    for (const word of foldedWords(field.text)) {
      // PostgreSQL keeps at most 256 positions per lexeme and none above 16383.
      const list = positions.get(word) ?? [];
      if (list.length < 256 && position <= 16_383) list.push(`${position}${field.weight}`);
      positions.set(word, list);
      position += 1;
    }
    position += FIELD_GAP;
  }
  return [...positions].map(([word, list]) => (list.length > 0 ? `${lexeme(word)}:${list.join(',')}` : lexeme(word))).join(' ');
}

/**
 * The user's text as a safe tsquery: each whitespace-separated chunk is a phrase of its words
 * (`<->`), a trailing `*` makes its last word a prefix, and every chunk must match (`&`).
 * Undefined when nothing searchable is left.
 */
export function toTsQuery(q: string): string | undefined {
  const phrases: string[] = [];
  for (const chunk of q.split(/\s+/)) {
    const words = foldedWords(chunk);
    if (words.length === 0) continue;
    const prefix = chunk.endsWith('*');
    const parts = words.map((word, i) => (prefix && i === words.length - 1 ? `${lexeme(word)}:*` : lexeme(word)));
    phrases.push(parts.length === 1 ? parts[0]! : `(${parts.join(' <-> ')})`);
    if (phrases.length === MAX_QUERY_WORDS) break;
  }
  return phrases.length > 0 ? phrases.join(' & ') : undefined;
}

interface Term {
  field: 'domain' | 'author' | 'doi' | 'share_user' | 'share_group' | 'reproducibility';
  value: string;
  folded: string;
}

function termsOf(document: PublishedMetadata): Term[] {
  const terms = new Map<string, Term>();
  const add = (field: Term['field'], value: string, folded: string) => {
    // The first value of a folded term is the one facets show, as in the embedded index.
    if (folded !== '' && !terms.has(`${field}\u0000${folded}`)) terms.set(`${field}\u0000${folded}`, { field, value, folded });
  };
  for (const domain of document.hub.domains ?? []) add('domain', domain, domain.trim().toLowerCase());
  for (const creator of document.datacite.creators) add('author', creator.name, creator.name.toLowerCase());
  add('doi', document.hub.identifier, normalizeDoi(document.hub.identifier));
  if (document.datacite.identifier) add('doi', document.datacite.identifier.identifier, normalizeDoi(document.datacite.identifier.identifier));
  for (const related of document.datacite.relatedIdentifiers ?? []) add('doi', related.relatedIdentifier, normalizeDoi(related.relatedIdentifier));
  for (const user of document.hub.shared_with?.users ?? []) add('share_user', user, user);
  for (const group of document.hub.shared_with?.groups ?? []) add('share_group', group, group);
  const status = reproducibilityOf(document);
  add('reproducibility', status, status);
  return [...terms.values()];
}

function hitOf(document: PublishedMetadata): Omit<SearchHit, 'score'> {
  return {
    servable: `${document.hub.owner}/${document.hub.name}`,
    version: document.hub.version,
    title: document.datacite.titles[0]?.title ?? document.hub.name,
    authors: document.datacite.creators.map((creator) => creator.name),
    domains: document.hub.domains ?? [],
    type: document.servable.type,
    identifier: document.hub.identifier,
  };
}

function wordsOf(document: PublishedMetadata): string {
  return tsvectorOf([
    { weight: 'A', text: document.datacite.titles.map((title) => title.title).join('\n') },
    { weight: 'B', text: document.hub.name },
    { weight: 'C', text: (document.datacite.subjects ?? []).map((subject) => subject.subject).join('\n') },
    {
      weight: 'C',
      text: document.datacite.creators.map((creator) => [creator.name, creator.givenName, creator.familyName].filter(Boolean).join(' ')).join('\n'),
    },
    { weight: 'C', text: (document.hub.domains ?? []).join('\n') },
    { weight: 'D', text: (document.datacite.descriptions ?? []).map((description) => description.description).join('\n') },
    { weight: 'D', text: document.hub.owner },
    { weight: 'D', text: document.servable.type },
  ]);
}

/** SQL: may the viewer see the document row `alias`? Undefined for an admin (everything). */
function visibilityClause(viewer: Viewer | undefined, values: unknown[], alias: string): string | undefined {
  if (viewer?.admin) return undefined;
  const clauses = [`${alias}.visibility = 'public'`];
  if (viewer?.user !== undefined) {
    values.push(viewer.user);
    const user = `$${values.length}`;
    clauses.push(`${alias}.owner = ${user}`);
    clauses.push(`EXISTS (SELECT 1 FROM search_terms s WHERE s.doc_id = ${alias}.id AND s.field = 'share_user' AND s.folded = ${user})`);
  }
  if (viewer?.groups && viewer.groups.length > 0) {
    values.push(viewer.groups);
    clauses.push(
      `EXISTS (SELECT 1 FROM search_terms s WHERE s.doc_id = ${alias}.id AND s.field = 'share_group' AND s.folded = ANY($${values.length}::text[]))`,
    );
  }
  return `(${clauses.join(' OR ')})`;
}

/** `latest` as the viewer sees it: no newer version of the servable is visible to them. */
function latestClause(viewer: Viewer | undefined, values: unknown[]): string {
  const newerVisible = visibilityClause(viewer, values, 'newer');
  if (newerVisible === undefined) return 'd.is_latest';
  return `NOT EXISTS (SELECT 1 FROM search_docs newer WHERE newer.owner = d.owner AND newer.name = d.name
                      AND newer.version > d.version AND ${newerVisible})`;
}

interface SearchRow {
  total: string;
  hits: { hit: Omit<SearchHit, 'score'>; score: number }[];
  domain: Record<string, number> | null;
  type: Record<string, number> | null;
  owner: Record<string, number> | null;
  author: Record<string, number> | null;
  reproducibility: Record<string, number> | null;
}

export class PostgresSearchIndex implements SearchIndex {
  readonly kind = 'postgres';

  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresSearchIndex> {
    await db.migrate();
    return new PostgresSearchIndex(db.share());
  }

  /** Writers of one servable queue on a lock, so `is_latest` is right whatever replicas index at once. */
  private async lockServable(client: Queryable, owner: string, name: string): Promise<void> {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('modelhub search ' || $1 || '/' || $2))`, [owner, name]);
  }

  private async insert(client: Queryable, document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    const hit = hitOf(document);
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO search_docs (owner, name, version, visibility, type, published_at, hit, title_key, servable, words)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::tsvector) RETURNING id`,
      [
        owner,
        name,
        version,
        document.hub.visibility === 'public' ? 'public' : 'private',
        document.servable.type,
        document.hub.publication_date,
        JSON.stringify(hit),
        hit.title.toLowerCase(),
        `${owner}/${name}`,
        wordsOf(document),
      ],
    );
    const terms = termsOf(document);
    if (terms.length > 0) {
      await client.query(
        `INSERT INTO search_terms (doc_id, field, folded, value)
         SELECT $1, field, folded, value FROM unnest($2::text[], $3::text[], $4::text[]) AS t(field, folded, value)`,
        [rows[0]!.id, terms.map((t) => t.field), terms.map((t) => t.folded), terms.map((t) => t.value)],
      );
    }
  }

  private async refreshLatest(client: Queryable, owner?: string, name?: string): Promise<void> {
    const latest = `is_latest = (version = (SELECT MAX(version) FROM search_docs other WHERE other.owner = search_docs.owner AND other.name = search_docs.name))`;
    if (owner === undefined || name === undefined) await client.query(`UPDATE search_docs SET ${latest}`);
    else await client.query(`UPDATE search_docs SET ${latest} WHERE owner = $1 AND name = $2`, [owner, name]);
  }

  async index(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    await this.db.transaction(async (client) => {
      await this.lockServable(client, owner, name);
      await client.query('DELETE FROM search_docs WHERE owner = $1 AND name = $2 AND version = $3', [owner, name, version]);
      await this.insert(client, document);
      await this.refreshLatest(client, owner, name);
    }, 'index a version');
  }

  async remove(owner: string, name: string, version?: number): Promise<void> {
    await this.db.transaction(async (client) => {
      await this.lockServable(client, owner, name);
      await client.query('DELETE FROM search_docs WHERE owner = $1 AND name = $2 AND ($3::int IS NULL OR version = $3::int)', [owner, name, version ?? null]);
      await this.refreshLatest(client, owner, name);
    }, 'remove from the index');
  }

  async rebuild(documents: AsyncIterable<PublishedMetadata>): Promise<number> {
    // Gathered first so the swap is one transaction: searches never see a half-built index.
    const latestByKey = new Map<string, PublishedMetadata>();
    for await (const document of documents) latestByKey.set(`${document.hub.owner}/${document.hub.name}@${document.hub.version}`, document);
    return this.db.transaction(async (client) => {
      await client.query('DELETE FROM search_docs');
      for (const document of latestByKey.values()) await this.insert(client, document);
      await this.refreshLatest(client);
      const { rows } = await client.query<{ count: string }>('SELECT COUNT(*) AS count FROM search_docs');
      return Number(rows[0]!.count);
    }, 'rebuild the index');
  }

  async search(query: IndexQuery): Promise<SearchReply> {
    const order = ORDER_BY[sortOf(query)];
    const values: unknown[] = [];
    const where: string[] = [];
    const tsquery = query.q === undefined ? undefined : toTsQuery(query.q);
    let score = '0::real';
    if (tsquery !== undefined) {
      values.push(tsquery);
      where.push(`d.words @@ $${values.length}::tsquery`);
      score = `ts_rank('${RANK_WEIGHTS}', d.words, $${values.length}::tsquery)`;
    }
    if (query.latest !== false) where.push(latestClause(query.viewer, values));
    if (query.owner !== undefined) {
      values.push(query.owner.trim().toLowerCase());
      where.push(`d.owner = $${values.length}`);
    }
    if (query.type !== undefined) {
      values.push(query.type.trim().toLowerCase());
      where.push(`d.type = $${values.length}`);
    }
    /** Any of the values matches: equal to a term's folded form, or contained in it. */
    const termFilter = (field: string, alternatives: string[], comparison: 'equal' | 'contains') => {
      values.push(field, alternatives);
      const [fieldParam, valuesParam] = [`$${values.length - 1}`, `$${values.length}::text[]`];
      const test = comparison === 'equal' ? `t.folded = ANY(${valuesParam})` : `EXISTS (SELECT 1 FROM unnest(${valuesParam}) AS a(v) WHERE strpos(t.folded, a.v) > 0)`;
      where.push(`EXISTS (SELECT 1 FROM search_terms t WHERE t.doc_id = d.id AND t.field = ${fieldParam} AND ${test})`);
    };
    if (query.domain !== undefined) termFilter('domain', filterAlternatives(query.domain, ','), 'equal');
    if (query.author !== undefined) termFilter('author', filterAlternatives(query.author, ';'), 'contains');
    if (query.reproducibility !== undefined) termFilter('reproducibility', [query.reproducibility], 'equal');
    if (query.doi !== undefined) termFilter('doi', [normalizeDoi(query.doi)], 'equal');
    const visible = visibilityClause(query.viewer, values, 'd');
    if (visible) where.push(visible);

    values.push(Math.max(0, Math.min(query.limit ?? 20, 500)));
    const limit = `$${values.length}`;
    values.push(Math.max(0, query.offset ?? 0));
    const offset = `$${values.length}`;
    const facet = (select: string) =>
      `(SELECT jsonb_object_agg(f.key, f.count) FROM (SELECT * FROM (${select}) g ORDER BY g.count DESC, g.key COLLATE "C" LIMIT ${FACET_SIZE}) f)`;
    const termFacet = (field: string) =>
      facet(`SELECT MIN(t.value COLLATE "C") AS key, COUNT(*) AS count FROM matched m JOIN search_terms t ON t.doc_id = m.id AND t.field = '${field}' GROUP BY t.folded`);

    // One statement: the page, the total and every facet read the same snapshot of one matched set.
    const { rows } = await this.db.query<SearchRow>(
      `WITH matched AS MATERIALIZED (
         SELECT d.id, ${score} AS score, d.type, d.owner, d.published_at, d.version, d.servable, d.title_key, d.hit
         FROM search_docs d ${where.length ? `WHERE ${where.join(' AND ')}` : ''})
       SELECT
         (SELECT COUNT(*) FROM matched) AS total,
         (SELECT COALESCE(jsonb_agg(jsonb_build_object('hit', p.hit, 'score', p.score) ORDER BY p.n), '[]'::jsonb)
            FROM (SELECT m.hit, m.score, row_number() OVER (ORDER BY ${order}) AS n FROM matched m
                  ORDER BY ${order} LIMIT ${limit} OFFSET ${offset}) p) AS hits,
         ${termFacet('domain')} AS domain,
         ${facet('SELECT type AS key, COUNT(*) AS count FROM matched GROUP BY type')} AS type,
         ${facet('SELECT owner AS key, COUNT(*) AS count FROM matched GROUP BY owner')} AS owner,
         ${termFacet('author')} AS author,
         ${termFacet('reproducibility')} AS reproducibility`,
      values,
      'search',
    );
    const row = rows[0]!;
    return {
      total: Number(row.total),
      hits: row.hits.map(({ hit, score: hitScore }) => ({ ...hit, score: Number(hitScore) })),
      facets: { domain: row.domain ?? {}, type: row.type ?? {}, owner: row.owner ?? {}, author: row.author ?? {}, reproducibility: row.reproducibility ?? {} },
    };
  }

  async health(): Promise<BackendHealth> {
    try {
      const { rows } = await this.db.query<{ count: string }>('SELECT COUNT(*) AS count FROM search_docs');
      return { ok: true, backend: 'postgres', detail: `${rows[0]!.count} documents (tsvector, GIN)` };
    } catch (error) {
      return { ok: false, backend: 'postgres', detail: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
