/**
 * Citable collections in PostgreSQL (MODELHUB_DATABASE_URL): every replica sees the same
 * collections. The same records and queries as the SQLite store (sqlite-collection-store.ts); the
 * contract suite holds both to them.
 */
import type { Creator } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { CollectionMemberRef, CollectionQuery, CollectionRecord, CollectionStore } from '../../schemas/ports/collection-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

interface CollectionRow {
  owner: string;
  name: string;
  title: string;
  description: string | null;
  creators: Creator[];
  members: CollectionMemberRef[];
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
  creators: row.creators,
  members: row.members,
  visibility: row.visibility,
  identifier: row.identifier,
  identifier_type: row.identifier_type,
  identifier_state: row.identifier_state,
  ...(row.last_error === null ? {} : { last_error: row.last_error }),
  created_at: row.created_at,
  updated_at: row.updated_at,
  ...(row.withdrawn_at === null ? {} : { withdrawn_at: row.withdrawn_at }),
});

const values = (r: CollectionRecord) => [
  r.owner, r.name, r.title, r.description ?? null, JSON.stringify(r.creators), JSON.stringify(r.members), r.visibility,
  r.identifier, r.identifier_type, r.identifier_state, r.last_error ?? null, r.created_at, r.updated_at, r.withdrawn_at ?? null,
];

/** `%` and `_` are LIKE's wildcards; escaped so that a searched word means itself. */
const likePattern = (word: string) => `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class PostgresCollectionStore implements CollectionStore {
  readonly kind = 'postgres';

  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresCollectionStore> {
    await db.migrate();
    return new PostgresCollectionStore(db.share());
  }

  async create(record: CollectionRecord): Promise<void> {
    const { rowCount } = await this.db.query(
      `INSERT INTO collections (owner, name, title, description, creators, members, visibility, identifier, identifier_type, identifier_state, last_error, created_at, updated_at, withdrawn_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
      values(record),
      'create a collection',
    );
    if (rowCount === 0) throw new HubError('COLLECTION_EXISTS', `${record.owner}/${record.name}`);
  }

  async update(record: CollectionRecord): Promise<void> {
    const { rowCount } = await this.db.query(
      `UPDATE collections SET title = $3, description = $4, creators = $5, members = $6, visibility = $7,
         identifier_state = $10, last_error = $11, updated_at = $13, withdrawn_at = $14
       WHERE owner = $1 AND name = $2 AND identifier = $8 AND identifier_type = $9 AND created_at = $12`,
      values(record),
      'update a collection',
    );
    if (rowCount === 0) throw new HubError('COLLECTION_NOT_FOUND', `${record.owner}/${record.name}`);
  }

  async get(owner: string, name: string): Promise<CollectionRecord | undefined> {
    const { rows } = await this.db.query<CollectionRow>('SELECT * FROM collections WHERE owner = $1 AND name = $2', [owner, name], 'read a collection');
    return rows[0] && fromRow(rows[0]);
  }

  async getByIdentifier(identifier: string): Promise<CollectionRecord | undefined> {
    // DOIs are case-insensitive; local identifiers are lower case by their patterns.
    const { rows } = await this.db.query<CollectionRow>('SELECT * FROM collections WHERE lower(identifier) = lower($1)', [identifier], 'read a collection');
    return rows[0] && fromRow(rows[0]);
  }

  async list(query: CollectionQuery): Promise<{ total: number; records: CollectionRecord[] }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (!query.withdrawn) where.push('withdrawn_at IS NULL');
    if (query.owner) where.push(`owner = ${param(query.owner)}`);
    if (query.identifierState) where.push(`identifier_state = ${param(query.identifierState)}`);
    if (query.visibleTo && !query.visibleTo.admin) {
      where.push(query.visibleTo.user === undefined ? `visibility = 'public'` : `(visibility = 'public' OR owner = ${param(query.visibleTo.user)})`);
    }
    if (query.containing) {
      const { owner, name, version } = query.containing;
      where.push(`members @> ${param(JSON.stringify([{ owner, name, ...(version === undefined ? {} : { version }) }]))}::jsonb`);
    }
    for (const word of query.words ?? []) {
      where.push(`lower(owner || '/' || name || ' ' || title || ' ' || coalesce(description, '') || ' ' || creators::text) LIKE ${param(likePattern(word.toLowerCase()))} ESCAPE '\\'`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const counted = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM collections ${clause}`, params, 'count collections');
    const { rows } = await this.db.query<CollectionRow>(
      `SELECT * FROM collections ${clause} ORDER BY created_at DESC, owner, name LIMIT ${param(query.limit ?? 50)} OFFSET ${param(query.offset ?? 0)}`,
      params,
      'list collections',
    );
    return { total: Number(counted.rows[0]?.total ?? 0), records: rows.map(fromRow) };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
