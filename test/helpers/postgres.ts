/**
 * PostgreSQL for tests: the server scripts/postgres/start.sh started (MODELHUB_TEST_DATABASE_URL).
 * Each test gets a fresh schema (cheap) or a fresh database (for whole hubs), dropped afterwards.
 *
 * Without MODELHUB_TEST_DATABASE_URL the PostgreSQL suites are skipped on a developer machine, but
 * under CI=true they fail loudly: there they must run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';

export const testDatabaseUrl: string | undefined = process.env.MODELHUB_TEST_DATABASE_URL || undefined;

if (!testDatabaseUrl && process.env.CI === 'true') {
  throw new Error(
    'MODELHUB_TEST_DATABASE_URL is not set under CI=true: the PostgreSQL suites must run there. ' +
      'Start PostgreSQL with scripts/postgres/start.sh (scripts/test-all.sh does) and export what it prints.',
  );
}

/** `describe` where PostgreSQL is available; skipped (with the reason in the name) elsewhere. */
export function describePostgres(name: string, body: () => void): void {
  if (testDatabaseUrl) describe(name, body);
  else describe.skip(`${name} (no MODELHUB_TEST_DATABASE_URL: run scripts/postgres/start.sh)`, body);
}

const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

async function admin<T>(work: (client: pg.Client) => Promise<T>, url = testDatabaseUrl): Promise<T> {
  if (!url) throw new Error('MODELHUB_TEST_DATABASE_URL is not set');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A connection URL whose sessions see only a fresh, empty schema; `drop` removes it. */
export async function freshSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  const schema = uniqueName('mh_test');
  await admin((client) => client.query(`CREATE SCHEMA ${schema}`));
  const url = new URL(testDatabaseUrl!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    drop: () => admin((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined),
  };
}

/** A fresh, empty database (for hub processes); `drop` removes it, closing what still uses it. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName('mh_test');
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(testDatabaseUrl!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
