/**
 * The embedded endpoint store: `endpoints.db` in the data folder (WAL), beside the token store.
 * Endpoint tokens are 32 random bytes behind an `mhe_` prefix (so they are told apart from user
 * tokens and found by secret scanners); only their sha256 is kept.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { EndpointExecutor, EndpointRecord, EndpointStore, NewEndpoint } from '../../schemas/ports/endpoint-store.ts';

export const ENDPOINT_TOKEN_PREFIX = 'mhe_';
const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

interface Row {
  owner: string;
  name: string;
  owner_groups: string;
  executor: string;
  resources: string;
  shared_users: string;
  shared_groups: string;
  created_at: string;
  last_seen_at: string | null;
}

const toRecord = (row: Row): EndpointRecord => ({
  owner: row.owner,
  name: row.name,
  owner_groups: JSON.parse(row.owner_groups) as string[],
  executor: row.executor as EndpointExecutor,
  resources: JSON.parse(row.resources) as Record<string, unknown>,
  shared_with: { users: JSON.parse(row.shared_users) as string[], groups: JSON.parse(row.shared_groups) as string[] },
  created_at: row.created_at,
  ...(row.last_seen_at ? { last_seen_at: row.last_seen_at } : {}),
});

export class SqliteEndpointStore implements EndpointStore {
  private constructor(private readonly db: Database.Database) {}

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'endpoints.db');
  }

  static open(file: string): SqliteEndpointStore {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS endpoints (
        owner         TEXT NOT NULL,
        name          TEXT NOT NULL,
        token_hash    TEXT NOT NULL UNIQUE,
        owner_groups  TEXT NOT NULL,
        executor      TEXT NOT NULL,
        resources     TEXT NOT NULL,
        shared_users  TEXT NOT NULL,
        shared_groups TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT,
        PRIMARY KEY (owner, name)
      );
    `);
    return new SqliteEndpointStore(db);
  }

  async register(endpoint: NewEndpoint): Promise<{ endpoint: EndpointRecord; token: string }> {
    const token = ENDPOINT_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO endpoints (owner, name, token_hash, owner_groups, executor, resources, shared_users, shared_groups, created_at)
         VALUES (@owner, @name, @token_hash, @owner_groups, @executor, @resources, @shared_users, @shared_groups, @created_at)
         ON CONFLICT (owner, name) DO UPDATE SET token_hash = excluded.token_hash, owner_groups = excluded.owner_groups,
           executor = excluded.executor, resources = excluded.resources, shared_users = excluded.shared_users,
           shared_groups = excluded.shared_groups`,
      )
      .run({
        owner: endpoint.owner,
        name: endpoint.name,
        token_hash: hash(token),
        owner_groups: JSON.stringify(endpoint.owner_groups),
        executor: endpoint.executor,
        resources: JSON.stringify(endpoint.resources),
        shared_users: JSON.stringify(endpoint.shared_with?.users ?? []),
        shared_groups: JSON.stringify(endpoint.shared_with?.groups ?? []),
        created_at: now,
      });
    return { endpoint: (await this.get(endpoint.owner, endpoint.name))!, token };
  }

  async get(owner: string, name: string): Promise<EndpointRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM endpoints WHERE owner = ? AND name = ?').get(owner, name) as Row | undefined;
    return row && toRecord(row);
  }

  async byToken(token: string): Promise<EndpointRecord | undefined> {
    if (!token.startsWith(ENDPOINT_TOKEN_PREFIX)) return undefined;
    const row = this.db.prepare('SELECT * FROM endpoints WHERE token_hash = ?').get(hash(token)) as Row | undefined;
    return row && toRecord(row);
  }

  async list(filter: { owner?: string } = {}): Promise<EndpointRecord[]> {
    const rows = (filter.owner
      ? this.db.prepare('SELECT * FROM endpoints WHERE owner = ? ORDER BY owner, name').all(filter.owner)
      : this.db.prepare('SELECT * FROM endpoints ORDER BY owner, name').all()) as Row[];
    return rows.map(toRecord);
  }

  async seen(owner: string, name: string, at: string, resources?: Record<string, unknown>): Promise<void> {
    if (resources) this.db.prepare('UPDATE endpoints SET last_seen_at = ?, resources = ? WHERE owner = ? AND name = ?').run(at, JSON.stringify(resources), owner, name);
    else this.db.prepare('UPDATE endpoints SET last_seen_at = ? WHERE owner = ? AND name = ?').run(at, owner, name);
  }

  async delete(owner: string, name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM endpoints WHERE owner = ? AND name = ?').run(owner, name).changes > 0;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
