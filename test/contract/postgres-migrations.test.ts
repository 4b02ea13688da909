/**
 * The PostgreSQL schema migrations: replicas that start together (each its own pool, as separate
 * processes would be) end with one schema, every step applied once; a database that cannot be
 * reached is MODELHUB_BACKEND_UNAVAILABLE, not an internal error.
 */
import net from 'node:net';
import pg from 'pg';
import { expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { POSTGRES_MIGRATIONS } from '../../hub-server/adapters/postgres-migrations.ts';
import { hubErrorCode } from '../helpers/rejection.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';

describePostgres('PostgreSQL migrations', () => {
  it('two replicas migrating at once end with one schema', async () => {
    const { url, schema, drop } = await freshSchema();
    const replicas = Array.from({ length: 4 }, () => PostgresDatabase.open(url));
    try {
      await Promise.all(replicas.map((db) => db.migrate()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const applied = await client.query<{ id: number; name: string }>('SELECT id, name FROM modelhub_migrations ORDER BY id');
        expect(applied.rows).toEqual(POSTGRES_MIGRATIONS.map((migration, i) => ({ id: i + 1, name: migration.name })));
        const tables = await client.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
          [schema],
        );
        expect(tables.rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(['versions', 'tasks', 'identifiers', 'tokens', 'search_docs']));
      } finally {
        await client.end();
      }
      // A replica started later finds nothing to do.
      const late = PostgresDatabase.open(url);
      await late.migrate();
      await late.close();
    } finally {
      await Promise.all(replicas.map((db) => db.close()));
      await drop();
    }
  });

  it('refuses a schema newer than this hub understands', async () => {
    const { url, drop } = await freshSchema();
    const db = PostgresDatabase.open(url);
    try {
      await db.migrate();
      await db.query(`INSERT INTO modelhub_migrations (id, name) VALUES ($1, 'from the future')`, [POSTGRES_MIGRATIONS.length + 1]);
      const newer = PostgresDatabase.open(url);
      await expect(newer.migrate()).rejects.toThrow(/newer than this hub understands/);
      await newer.close();
    } finally {
      await db.close();
      await drop();
    }
  });
});

it('a database that refuses connections is MODELHUB_BACKEND_UNAVAILABLE', async () => {
  // A port nothing listens on: take a free one and close it again.
  const port = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as net.AddressInfo;
      server.close(() => resolve(free));
    });
  });
  const db = PostgresDatabase.open(`postgres://modelhub@127.0.0.1:${port}/modelhub`);
  try {
    expect(await hubErrorCode(db.query('SELECT 1'))).toBe('MODELHUB_BACKEND_UNAVAILABLE');
    expect(await hubErrorCode(db.transaction(async () => undefined))).toBe('MODELHUB_BACKEND_UNAVAILABLE');
    expect(await hubErrorCode(db.migrate())).toBe('MODELHUB_BACKEND_UNAVAILABLE');
    expect(await db.health()).toMatchObject({ ok: false, backend: 'postgres' });
  } finally {
    await db.close();
  }
});
