/**
 * The embedded collection store: `collections.db` in the data folder. Members and creators are
 * JSON columns (a collection is read and written whole); the lookups that need a member (which
 * collections hold version 3 of lab/mlp?) go through `json_each`.
 */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Creator } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { CollectionMemberRef, CollectionQuery, CollectionRecord, CollectionStore } from '../../schemas/ports/collection-store.ts';
import { openSqliteFile } from './sqlite-open.ts';

const MIGRATIONS = [
  `
  CREATE TABLE collections (
    owner            TEXT NOT NULL,
    name             TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    creators         TEXT NOT NULL,
    members          TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    identifier       TEXT NOT NULL UNIQUE,
    identifier_type  TEXT NOT NULL,
    identifier_state TEXT NOT NULL,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    withdrawn_at     TEXT,
    PRIMARY KEY (owner, name)
  );
  CREATE INDEX collections_by_state ON collections (identifier_state);
  `,
];

interface CollectionRow {
  owner: string;
  name: string;
  title: string;
  description: string | null;
  creators: string;
  members: string;
  visibility: 'public' | 'private';
  identifier: string;
  identifier_type: string;
  identifier_state: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  withdrawn_at: string | null;
}

const fromRow = (row: CollectionRow): CollectionRecord => ({
  owner: row.owner,
  name: row.name,
  title: row.title,
  ...(row.description === null ? {} : { description: row.description }),
  creators: JSON.parse(row.creators) as Creator[],
  members: JSON.parse(row.members) as CollectionMemberRef[],
  visibility: row.visibility,
  identifier: row.identifier,
  identifier_type: row.identifier_type,
  identifier_state: row.identifier_state,
  ...(row.last_error === null ? {} : { last_error: row.last_error }),
  created_at: row.created_at,
  updated_at: row.updated_at,
  ...(row.withdrawn_at === null ? {} : { withdrawn_at: row.withdrawn_at }),
});

const toRow = (record: CollectionRecord): CollectionRow => ({
  owner: record.owner,
  name: record.name,
  title: record.title,
  description: record.description ?? null,
  creators: JSON.stringify(record.creators),
  members: JSON.stringify(record.members),
  visibility: record.visibility,
  identifier: record.identifier,
  identifier_type: record.identifier_type,
  identifier_state: record.identifier_state,
  last_error: record.last_error ?? null,
  created_at: record.created_at,
  updated_at: record.updated_at,
  withdrawn_at: record.withdrawn_at ?? null,
});

/** `%` and `_` are LIKE's wildcards; escaped so that a searched word means itself. */
const likePattern = (word: string) => `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class SqliteCollectionStore implements CollectionStore {
  readonly kind = 'sqlite';

  private constructor(private readonly db: Database.Database) {}

  static open(file: string): SqliteCollectionStore {
    return new SqliteCollectionStore(openSqliteFile(file, MIGRATIONS, 'collection store'));
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'collections.db');
  }

  async create(record: CollectionRecord): Promise<void> {
    const result = this.db
      .prepare(
        `INSERT OR IGNORE INTO collections (owner, name, title, description, creators, members, visibility, identifier, identifier_type, identifier_state, last_error, created_at, updated_at, withdrawn_at)
         VALUES (@owner, @name, @title, @description, @creators, @members, @visibility, @identifier, @identifier_type, @identifier_state, @last_error, @created_at, @updated_at, @withdrawn_at)`,
      )
      .run(toRow(record));
    if (result.changes === 0) throw new HubError('COLLECTION_EXISTS', `${record.owner}/${record.name}`);
  }

  async update(record: CollectionRecord): Promise<void> {
    const result = this.db
      .prepare(
        `UPDATE collections SET title = @title, description = @description, creators = @creators, members = @members, visibility = @visibility,
           identifier_state = @identifier_state, last_error = @last_error, updated_at = @updated_at, withdrawn_at = @withdrawn_at
         WHERE owner = @owner AND name = @name`,
      )
      .run(toRow(record));
    if (result.changes === 0) throw new HubError('COLLECTION_NOT_FOUND', `${record.owner}/${record.name}`);
  }

  async get(owner: string, name: string): Promise<CollectionRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM collections WHERE owner = ? AND name = ?').get(owner, name) as CollectionRow | undefined;
    return row && fromRow(row);
  }

  async getByIdentifier(identifier: string): Promise<CollectionRecord | undefined> {
    // DOIs are case-insensitive; local identifiers are lower case by their patterns.
    const row = this.db.prepare('SELECT * FROM collections WHERE lower(identifier) = lower(?)').get(identifier) as CollectionRow | undefined;
    return row && fromRow(row);
  }

  async list(query: CollectionQuery): Promise<{ total: number; records: CollectionRecord[] }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (!query.withdrawn) where.push('withdrawn_at IS NULL');
    if (query.owner) {
      where.push('owner = ?');
      params.push(query.owner);
    }
    if (query.identifierState) {
      where.push('identifier_state = ?');
      params.push(query.identifierState);
    }
    if (query.visibleTo && !query.visibleTo.admin) {
      where.push(query.visibleTo.user === undefined ? `visibility = 'public'` : `(visibility = 'public' OR owner = ?)`);
      if (query.visibleTo.user !== undefined) params.push(query.visibleTo.user);
    }
    if (query.containing) {
      const { owner, name, version } = query.containing;
      where.push(
        `EXISTS (SELECT 1 FROM json_each(collections.members) AS m WHERE json_extract(m.value, '$.owner') = ? AND json_extract(m.value, '$.name') = ?${version === undefined ? '' : ` AND json_extract(m.value, '$.version') = ?`})`,
      );
      params.push(owner, name, ...(version === undefined ? [] : [version]));
    }
    for (const word of query.words ?? []) {
      where.push(`lower(owner || '/' || name || ' ' || title || ' ' || coalesce(description, '') || ' ' || creators) LIKE ? ESCAPE '\\'`);
      params.push(likePattern(word.toLowerCase()));
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT count(*) FROM collections ${clause}`).pluck().get(...params) as number) ?? 0;
    const rows = this.db
      .prepare(`SELECT * FROM collections ${clause} ORDER BY created_at DESC, owner, name LIMIT ? OFFSET ?`)
      .all(...params, query.limit ?? 50, query.offset ?? 0) as CollectionRow[];
    return { total, records: rows.map(fromRow) };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
