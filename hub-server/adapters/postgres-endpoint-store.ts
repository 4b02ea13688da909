/**
 * Compute endpoints in PostgreSQL: an endpoint registered through one replica is listed, used and
 * deleted through any other, and its agent's token verifies wherever the agent connects. Tokens
 * are made and hashed exactly as in the embedded store (only their sha256 is kept).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EndpointExecutor, EndpointRecord, EndpointStore, NewEndpoint } from '../../schemas/ports/endpoint-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';
import { ENDPOINT_TOKEN_PREFIX } from './sqlite-endpoint-store.ts';

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

interface Row {
  owner: string;
  name: string;
  owner_groups: string[];
  executor: string;
  resources: Record<string, unknown>;
  shared_users: string[];
  shared_groups: string[];
  created_at: string;
  last_seen_at: string | null;
}

const COLUMNS = 'owner, name, owner_groups, executor, resources, shared_users, shared_groups, created_at, last_seen_at';

const toRecord = (row: Row): EndpointRecord => ({
  owner: row.owner,
  name: row.name,
  owner_groups: row.owner_groups,
  executor: row.executor as EndpointExecutor,
  resources: row.resources,
  shared_with: { users: row.shared_users, groups: row.shared_groups },
  created_at: row.created_at,
  ...(row.last_seen_at ? { last_seen_at: row.last_seen_at } : {}),
});

export class PostgresEndpointStore implements EndpointStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresEndpointStore> {
    await db.migrate();
    return new PostgresEndpointStore(db.share());
  }

  async register(endpoint: NewEndpoint): Promise<{ endpoint: EndpointRecord; token: string }> {
    const token = ENDPOINT_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const { rows } = await this.db.query<Row>(
      `INSERT INTO compute_endpoints (owner, name, token_hash, owner_groups, executor, resources, shared_users, shared_groups, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (owner, name) DO UPDATE SET token_hash = excluded.token_hash, owner_groups = excluded.owner_groups,
         executor = excluded.executor, resources = excluded.resources, shared_users = excluded.shared_users,
         shared_groups = excluded.shared_groups
       RETURNING ${COLUMNS}`,
      [
        endpoint.owner,
        endpoint.name,
        hash(token),
        JSON.stringify(endpoint.owner_groups),
        endpoint.executor,
        JSON.stringify(endpoint.resources),
        JSON.stringify(endpoint.shared_with?.users ?? []),
        JSON.stringify(endpoint.shared_with?.groups ?? []),
        new Date().toISOString(),
      ],
      'register a compute endpoint',
    );
    return { endpoint: toRecord(rows[0]!), token };
  }

  async get(owner: string, name: string): Promise<EndpointRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM compute_endpoints WHERE owner = $1 AND name = $2`, [owner, name], 'read a compute endpoint');
    return rows[0] && toRecord(rows[0]);
  }

  async byToken(token: string): Promise<EndpointRecord | undefined> {
    if (!token.startsWith(ENDPOINT_TOKEN_PREFIX)) return undefined;
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM compute_endpoints WHERE token_hash = $1`, [hash(token)], 'verify an endpoint token');
    return rows[0] && toRecord(rows[0]);
  }

  async list(filter: { owner?: string } = {}): Promise<EndpointRecord[]> {
    // COLLATE "C": the byte order SQLite sorts by, whatever the database's locale.
    const { rows } = filter.owner
      ? await this.db.query<Row>(`SELECT ${COLUMNS} FROM compute_endpoints WHERE owner = $1 ORDER BY owner COLLATE "C", name COLLATE "C"`, [filter.owner], 'list compute endpoints')
      : await this.db.query<Row>(`SELECT ${COLUMNS} FROM compute_endpoints ORDER BY owner COLLATE "C", name COLLATE "C"`, [], 'list compute endpoints');
    return rows.map(toRecord);
  }

  async seen(owner: string, name: string, at: string, resources?: Record<string, unknown>): Promise<void> {
    if (resources) {
      await this.db.query('UPDATE compute_endpoints SET last_seen_at = $1, resources = $2 WHERE owner = $3 AND name = $4', [at, JSON.stringify(resources), owner, name], 'record an endpoint heartbeat');
    } else {
      await this.db.query('UPDATE compute_endpoints SET last_seen_at = $1 WHERE owner = $2 AND name = $3', [at, owner, name], 'record an endpoint heartbeat');
    }
  }

  async delete(owner: string, name: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM compute_endpoints WHERE owner = $1 AND name = $2', [owner, name], 'delete a compute endpoint');
    return (rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
