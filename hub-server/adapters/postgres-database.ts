/**
 * The connection to PostgreSQL that every PostgreSQL adapter shares (one `pg` pool per hub
 * process), the versioned schema migrations, and the translation of PostgreSQL's failures into the
 * hub's error catalogue.
 *
 * Migrations are numbered SQL steps (`postgres-migrations.ts`), applied in order inside one
 * transaction that first takes a transaction-scoped advisory lock: replicas starting together
 * queue on the lock, the first applies the steps, the others find them recorded in
 * `modelhub_migrations` and apply nothing, so they all end with one schema.
 */
import pg from 'pg';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.ts';

/** Any fixed 64-bit number works; every replica must use the same one. "modelhub" in ASCII. */
const MIGRATION_LOCK_KEY = 0x6d6f64656c687562n;

/** SQLSTATE classes and Node errors that mean "the database cannot be reached now", not "your request is wrong". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53400', '40001', '40P01']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

export function isPostgresUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  // pg's own wording when a pooled connection dies or a connect attempt times out.
  if (/Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(message)) {
    return true;
  }
  const errors = (error as { errors?: unknown }).errors;
  return Array.isArray(errors) && errors.some(isPostgresUnavailable);
}

/** A database that cannot be reached is 503 MODELHUB_BACKEND_UNAVAILABLE (retry later), never a 500. */
export function translatePostgresError(error: unknown, what: string): unknown {
  if (error instanceof HubError) return error;
  if (isPostgresUnavailable(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new HubError('BACKEND_UNAVAILABLE', `PostgreSQL (${what}): ${reason}`, { cause: error, retryAfter: 1 });
  }
  return error;
}

/** The credentials in a URL are not for logs or error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PostgresOptions {
  /** Connections this process may hold (default 10). */
  maxConnections?: number;
  /** How long a query waits for a connection before failing as unavailable (default 5 s). */
  connectTimeoutMs?: number;
  applicationName?: string;
}

/**
 * A shared pool. Every adapter that uses it calls `share()` once and `close()` once; the pool ends
 * when the last one closes, so adapters can be closed in any order.
 */
export class PostgresDatabase {
  private users = 1;
  private migrated: Promise<void> | undefined;

  private constructor(
    readonly pool: pg.Pool,
    readonly url: string,
  ) {}

  static open(url: string, options: PostgresOptions = {}): PostgresDatabase {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: options.applicationName ?? 'modelhub',
    });
    // An idle pooled connection that dies (PostgreSQL restarted) emits 'error' on the pool; without
    // a listener that would crash the process. The next query gets a fresh connection.
    pool.on('error', () => undefined);
    return new PostgresDatabase(pool, url);
  }

  /** One more adapter uses this pool. */
  share(): this {
    this.users += 1;
    return this;
  }

  async close(): Promise<void> {
    this.users -= 1;
    if (this.users === 0) await this.pool.end();
  }

  async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], what = 'query'): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(text, values);
    } catch (error) {
      throw translatePostgresError(error, what);
    }
  }

  /** Runs `work` in one transaction on one connection; rolls back on any error. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>, what = 'transaction'): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translatePostgresError(error, what);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = isPostgresUnavailable(error);
      if (!broken) await client.query('ROLLBACK').catch(() => { broken = true; });
      throw translatePostgresError(error, what);
    } finally {
      // A connection that failed mid-transaction is not given back to the pool for reuse.
      client.release(broken ? true : undefined);
    }
  }

  /** Applies the migrations this process knows and the database lacks (once per pool). */
  migrate(): Promise<void> {
    this.migrated ??= this.applyMigrations().catch((error: unknown) => {
      this.migrated = undefined;
      throw error;
    });
    return this.migrated;
  }

  private async applyMigrations(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
      await client.query(
        `CREATE TABLE IF NOT EXISTS modelhub_migrations (
           id         INTEGER PRIMARY KEY,
           name       TEXT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )`,
      );
      const applied = await client.query<{ id: number }>('SELECT id FROM modelhub_migrations ORDER BY id');
      const done = new Set(applied.rows.map((row) => row.id));
      const newest = Math.max(0, ...done);
      if (newest > POSTGRES_MIGRATIONS.length) {
        throw new HubError('INTERNAL', `the PostgreSQL schema is at migration ${newest}, newer than this hub understands (${POSTGRES_MIGRATIONS.length})`);
      }
      for (const [index, migration] of POSTGRES_MIGRATIONS.entries()) {
        const id = index + 1;
        if (done.has(id)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO modelhub_migrations (id, name) VALUES ($1, $2)', [id, migration.name]);
      }
    }, 'migrations');
  }

  async health(): Promise<BackendHealth> {
    try {
      await this.pool.query('SELECT 1');
      return { ok: true, backend: 'postgres' };
    } catch (error) {
      return { ok: false, backend: 'postgres', detail: error instanceof Error ? error.message : String(error) };
    }
  }
}
