/**
 * The embedded search index: SQLite FTS5 ranked with bm25 (a title match outweighs a description
 * match), plus a side table of exact-match terms (domains, authors, DOIs, sharing) for filters,
 * facets and visibility. Totals and facets are counted over the whole filtered, visible result set,
 * so a private servable never shows up even as a count.
 *
 * The user's `q` never reaches FTS5 as syntax: it is cut into words and each is quoted, so
 * `"foo AND (` is three words, not a syntax error. A word written with a trailing `*` matches as
 * a prefix. Every word must match somewhere (AND), as in a catalogue search box.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SEARCH_SORTS, type SearchHit, type SearchReply, type SearchSort } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import { filterAlternatives, reproducibilityOf, type IndexQuery, type SearchIndex } from '../../schemas/ports/search-index.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE docs (
    id           INTEGER PRIMARY KEY,
    owner        TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    visibility   TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    published_at TEXT    NOT NULL,
    is_latest    INTEGER NOT NULL DEFAULT 0,
    hit          TEXT    NOT NULL,
    UNIQUE (owner, name, version)
  );
  CREATE INDEX docs_by_date ON docs (is_latest, published_at);

  -- field: domain | author | doi | share_user | share_group; folded is what filters compare.
  CREATE TABLE doc_terms (
    doc_id INTEGER NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    field  TEXT    NOT NULL,
    folded TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (doc_id, field, folded)
  ) WITHOUT ROWID;
  CREATE INDEX doc_terms_by_value ON doc_terms (field, folded);

  CREATE VIRTUAL TABLE docs_fts USING fts5 (
    title, descriptions, subjects, creators, domains, owner, name, type,
    tokenize = 'unicode61 remove_diacritics 2'
  );
  `,
  // sort=title: the title folded as Elasticsearch's lowercase normalizer folds it (fold_title is
  // registered in open()), stored so a sort does not parse every hit's JSON.
  `
  ALTER TABLE docs ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
  UPDATE docs SET title_key = fold_title(json_extract(hit, '$.title'));
  `,
];

/** bm25 column weights, in the column order of docs_fts: the title counts most. */
const BM25_WEIGHTS = [10, 1, 3, 3, 3, 2, 5, 2] as const;
const FACET_SIZE = 50;
const MAX_QUERY_WORDS = 32;

/**
 * ORDER BY for each sort, over temp.matched. Every order ends on the servable name A-Z and then
 * the newest version, as the Elasticsearch index's does, so ties come out the same in both.
 */
const ORDER_BY: Record<SearchSort, string> = {
  relevance: 'm.score DESC, m.published_at DESC, m.version DESC, m.servable ASC',
  newest: 'm.published_at DESC, m.version DESC, m.servable ASC',
  title: 'm.title_key ASC, m.servable ASC, m.version DESC',
};

/**
 * The query's order, relevance when none is given. The route's schema already refuses other
 * values; this guards callers that use an index directly.
 */
export function sortOf(query: { sort?: string }): SearchSort {
  const sort = query.sort ?? 'relevance';
  if (!(SEARCH_SORTS as readonly string[]).includes(sort)) {
    throw new HubError('BAD_REQUEST', `sort must be one of ${SEARCH_SORTS.join(', ')}, not "${sort}"`);
  }
  return sort as SearchSort;
}

/** Case folding for title sorting: Unicode lower case, compared by code point like a keyword. */
export function foldTitle(title: string): string {
  return title.toLowerCase();
}

/** DOIs are case-insensitive and written with or without a resolver prefix. */
export function normalizeDoi(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/, '');
}

/**
 * The user's text as a safe FTS5 expression: each whitespace-separated chunk becomes one quoted
 * phrase of its words (so `mnist-mlp` matches the adjacent words "mnist mlp"); a trailing `*` makes
 * it a prefix. Undefined when nothing searchable is left.
 */
export function toFtsQuery(q: string): string | undefined {
  const phrases: string[] = [];
  for (const chunk of q.split(/\s+/)) {
    const words = chunk.match(/[\p{L}\p{N}\p{M}]+/gu);
    if (!words) continue;
    phrases.push(`"${words.join(' ')}"${chunk.endsWith('*') ? ' *' : ''}`);
    if (phrases.length === MAX_QUERY_WORDS) break;
  }
  return phrases.length > 0 ? phrases.join(' ') : undefined;
}

interface Terms {
  field: 'domain' | 'author' | 'doi' | 'share_user' | 'share_group' | 'reproducibility';
  value: string;
  folded: string;
}

function termsOf(document: PublishedMetadata): Terms[] {
  const terms: Terms[] = [];
  const add = (field: Terms['field'], value: string, folded: string) => {
    if (folded !== '') terms.push({ field, value, folded });
  };
  for (const domain of document.hub.domains ?? []) add('domain', domain, domain.trim().toLowerCase());
  for (const creator of document.datacite.creators) add('author', creator.name, creator.name.toLowerCase());
  add('doi', document.hub.identifier, normalizeDoi(document.hub.identifier));
  if (document.datacite.identifier) {
    add('doi', document.datacite.identifier.identifier, normalizeDoi(document.datacite.identifier.identifier));
  }
  for (const related of document.datacite.relatedIdentifiers ?? []) {
    add('doi', related.relatedIdentifier, normalizeDoi(related.relatedIdentifier));
  }
  for (const user of document.hub.shared_with?.users ?? []) add('share_user', user, user);
  for (const group of document.hub.shared_with?.groups ?? []) add('share_group', group, group);
  const status = reproducibilityOf(document);
  add('reproducibility', status, status);
  return terms;
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

function ftsRowOf(document: PublishedMetadata): string[] {
  return [
    document.datacite.titles.map((title) => title.title).join('\n'),
    (document.datacite.descriptions ?? []).map((description) => description.description).join('\n'),
    (document.datacite.subjects ?? []).map((subject) => subject.subject).join('\n'),
    document.datacite.creators.map((creator) => [creator.name, creator.givenName, creator.familyName].filter(Boolean).join(' ')).join('\n'),
    (document.hub.domains ?? []).join('\n'),
    document.hub.owner,
    document.hub.name,
    document.servable.type,
  ];
}

function visibilityClause(viewer: Viewer | undefined, params: Record<string, unknown>, alias = 'd'): string | undefined {
  if (viewer?.admin) return undefined;
  const clauses = [`${alias}.visibility = 'public'`];
  if (viewer?.user !== undefined) {
    params.viewerUser = viewer.user;
    clauses.push(`${alias}.owner = @viewerUser`);
    clauses.push(`EXISTS (SELECT 1 FROM doc_terms s WHERE s.doc_id = ${alias}.id AND s.field = 'share_user' AND s.folded = @viewerUser)`);
  }
  if (viewer?.groups && viewer.groups.length > 0) {
    params.viewerGroups = JSON.stringify(viewer.groups);
    clauses.push(
      `EXISTS (SELECT 1 FROM doc_terms s WHERE s.doc_id = ${alias}.id AND s.field = 'share_group'
               AND s.folded IN (SELECT value FROM json_each(@viewerGroups)))`,
    );
  }
  return `(${clauses.join(' OR ')})`;
}

/**
 * `latest` as the viewer sees it: no newer version of the same servable is visible to them, so a
 * private version 2 never hides the public version 1 from everyone else. An admin sees every
 * version, so the stored `is_latest` answers.
 */
function latestClause(viewer: Viewer | undefined, params: Record<string, unknown>): string {
  const newerVisible = visibilityClause(viewer, params, 'newer');
  if (newerVisible === undefined) return 'd.is_latest = 1';
  return `NOT EXISTS (SELECT 1 FROM docs newer WHERE newer.owner = d.owner AND newer.name = d.name
                      AND newer.version > d.version AND ${newerVisible})`;
}

export class SqliteSearchIndex implements SearchIndex {
  readonly kind = 'sqlite';

  private readonly statements = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  /** Prepared once per SQL text: preparing costs more than running these small statements. */
  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  static open(file: string): SqliteSearchIndex {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    db.function('fold_title', { deterministic: true }, (title: unknown) => (typeof title === 'string' ? foldTitle(title) : ''));
    db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current > MIGRATIONS.length) {
        throw new HubError('INTERNAL', `search index schema version ${current} is newer than this hub understands`);
      }
      for (let step = current; step < MIGRATIONS.length; step += 1) db.exec(MIGRATIONS[step]!);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
    db.exec(`CREATE TEMP TABLE matched (
      id INTEGER PRIMARY KEY, score REAL NOT NULL, type TEXT, owner TEXT, published_at TEXT, version INTEGER,
      servable TEXT, title_key TEXT)`);
    return new SqliteSearchIndex(db);
  }

  private deleteRows(owner: string, name: string, version?: number): void {
    const ids = this.statement('SELECT id FROM docs WHERE owner = ? AND name = ? AND (? IS NULL OR version = ?)')
      .pluck()
      .all(owner, name, version ?? null, version ?? null) as number[];
    const deleteFts = this.statement('DELETE FROM docs_fts WHERE rowid = ?');
    const deleteDoc = this.statement('DELETE FROM docs WHERE id = ?');
    for (const id of ids) {
      deleteFts.run(id);
      deleteDoc.run(id);
    }
  }

  private insertRows(document: PublishedMetadata): void {
    const { owner, name, version } = document.hub;
    const hit = hitOf(document);
    const { lastInsertRowid } = this
      .statement(
        `INSERT INTO docs (owner, name, version, visibility, type, published_at, hit, title_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        owner,
        name,
        version,
        document.hub.visibility === 'public' ? 'public' : 'private',
        document.servable.type,
        document.hub.publication_date,
        JSON.stringify(hit),
        foldTitle(hit.title),
      );
    this.statement('INSERT INTO docs_fts (rowid, title, descriptions, subjects, creators, domains, owner, name, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(lastInsertRowid, ...ftsRowOf(document));
    const insertTerm = this.statement('INSERT OR IGNORE INTO doc_terms (doc_id, field, folded, value) VALUES (?, ?, ?, ?)');
    for (const term of termsOf(document)) insertTerm.run(lastInsertRowid, term.field, term.folded, term.value);
  }

  private refreshLatest(owner?: string, name?: string): void {
    const latest = `is_latest = (version = (SELECT MAX(version) FROM docs AS other
                                            WHERE other.owner = docs.owner AND other.name = docs.name))`;
    if (owner === undefined || name === undefined) this.statement(`UPDATE docs SET ${latest}`).run();
    else this.statement(`UPDATE docs SET ${latest} WHERE owner = ? AND name = ?`).run(owner, name);
  }

  async index(document: PublishedMetadata): Promise<void> {
    // IMMEDIATE: these read before they write, and another process may share the file.
    this.db.transaction(() => {
      this.deleteRows(document.hub.owner, document.hub.name, document.hub.version);
      this.insertRows(document);
      this.refreshLatest(document.hub.owner, document.hub.name);
    }).immediate();
  }

  async remove(owner: string, name: string, version?: number): Promise<void> {
    this.db.transaction(() => {
      this.deleteRows(owner, name, version);
      this.refreshLatest(owner, name);
    }).immediate();
  }

  async rebuild(documents: AsyncIterable<PublishedMetadata>): Promise<number> {
    // Gathered first so the swap is one transaction: searches never see a half-built index.
    const all: PublishedMetadata[] = [];
    for await (const document of documents) all.push(document);
    this.db.transaction(() => {
      this.db.exec('DELETE FROM doc_terms; DELETE FROM docs; DELETE FROM docs_fts;');
      const seen = new Set<string>();
      for (const document of all) {
        const key = `${document.hub.owner}/${document.hub.name}@${document.hub.version}`;
        // The same version twice in the input: the later document wins, as with index().
        if (seen.has(key)) this.deleteRows(document.hub.owner, document.hub.name, document.hub.version);
        seen.add(key);
        this.insertRows(document);
      }
      this.refreshLatest();
    }).immediate();
    this.db.exec(`INSERT INTO docs_fts (docs_fts) VALUES ('optimize')`);
    return this.db.prepare('SELECT COUNT(*) FROM docs').pluck().get() as number;
  }

  async search(query: IndexQuery): Promise<SearchReply> {
    const order = ORDER_BY[sortOf(query)];
    const params: Record<string, unknown> = {};
    const where: string[] = [];
    const match = query.q === undefined ? undefined : toFtsQuery(query.q);
    if (match !== undefined) {
      params.match = match;
      where.push('docs_fts MATCH @match');
    }
    if (query.latest !== false) where.push(latestClause(query.viewer, params));
    if (query.owner !== undefined) {
      params.owner = query.owner.trim().toLowerCase();
      where.push('d.owner = @owner');
    }
    if (query.type !== undefined) {
      params.type = query.type.trim().toLowerCase();
      where.push('d.type = @type');
    }
    /** Any of the values matches: `equal` to a term's folded form, or `contains`-ed in it. */
    const termFilter = (field: string, parameter: string, values: string[], comparison: 'equal' | 'contains') => {
      const tests = values.map((value, i) => {
        params[`${parameter}${i}`] = value;
        return comparison === 'equal' ? `t.folded = @${parameter}${i}` : `instr(t.folded, @${parameter}${i}) > 0`;
      });
      where.push(`EXISTS (SELECT 1 FROM doc_terms t WHERE t.doc_id = d.id AND t.field = '${field}' AND (${tests.join(' OR ')}))`);
    };
    if (query.domain !== undefined) termFilter('domain', 'domain', filterAlternatives(query.domain, ','), 'equal');
    if (query.author !== undefined) termFilter('author', 'author', filterAlternatives(query.author, ';'), 'contains');
    if (query.reproducibility !== undefined) termFilter('reproducibility', 'reproducibility', [query.reproducibility], 'equal');
    if (query.doi !== undefined) termFilter('doi', 'doi', [normalizeDoi(query.doi)], 'equal');
    const visible = visibilityClause(query.viewer, params);
    if (visible) where.push(visible);

    const limit = Math.max(0, Math.min(query.limit ?? 20, 500));
    const offset = Math.max(0, query.offset ?? 0);
    const facet = (sql: string): Record<string, number> => {
      const rows = this.statement(`${sql} ORDER BY count DESC, key LIMIT ${FACET_SIZE}`).all() as { key: string; count: number }[];
      return Object.fromEntries(rows.map((row) => [row.key, row.count]));
    };
    const termFacet = (field: string) =>
      facet(
        `SELECT MIN(t.value) AS key, COUNT(*) AS count
         FROM temp.matched m CROSS JOIN doc_terms t ON t.doc_id = m.id AND t.field = '${field}' GROUP BY t.folded`,
      );

    // The matching set is computed once into a temporary table that the page, the total and every
    // facet read, inside one read transaction so they all describe the same snapshot.
    return this.db.transaction((): SearchReply => {
      this.statement('DELETE FROM temp.matched').run();
      this.db
        .prepare(
          match !== undefined
            ? `INSERT INTO temp.matched (id, score, type, owner, published_at, version, servable, title_key)
               SELECT d.id, -bm25(docs_fts, ${BM25_WEIGHTS.join(', ')}), d.type, d.owner, d.published_at, d.version,
                      d.owner || '/' || d.name, d.title_key
               FROM docs_fts CROSS JOIN docs d ON d.id = docs_fts.rowid WHERE ${where.join(' AND ')}`
            : `INSERT INTO temp.matched (id, score, type, owner, published_at, version, servable, title_key)
               SELECT d.id, 0.0, d.type, d.owner, d.published_at, d.version, d.owner || '/' || d.name, d.title_key
               FROM docs d ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`,
        )
        .run(params);
      const hitRows = this.statement(
        `SELECT d.hit AS hit, m.score AS score FROM temp.matched m CROSS JOIN docs d ON d.id = m.id
         ORDER BY ${order} LIMIT ? OFFSET ?`,
      ).all(limit, offset) as { hit: string; score: number }[];
      const reply: SearchReply = {
        total: this.statement('SELECT COUNT(*) FROM temp.matched').pluck().get() as number,
        hits: hitRows.map((row) => ({ ...(JSON.parse(row.hit) as Omit<SearchHit, 'score'>), score: row.score })),
        facets: {
          domain: termFacet('domain'),
          type: facet('SELECT type AS key, COUNT(*) AS count FROM temp.matched GROUP BY type'),
          owner: facet('SELECT owner AS key, COUNT(*) AS count FROM temp.matched GROUP BY owner'),
          author: termFacet('author'),
          reproducibility: termFacet('reproducibility'),
        },
      };
      this.statement('DELETE FROM temp.matched').run();
      return reply;
    })();
  }

  async health(): Promise<BackendHealth> {
    try {
      const count = this.db.prepare('SELECT COUNT(*) FROM docs').pluck().get() as number;
      return { ok: true, backend: 'sqlite', detail: `${count} documents (FTS5)` };
    } catch (error) {
      return { ok: false, backend: 'sqlite', detail: (error as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
