/**
 * Examples and reproducibility checks in PostgreSQL: every replica re-runs the same examples and
 * reads the same latest check. Examples and checks keep the JSON text they were given, as in the
 * embedded store (expected outputs are compared number by number).
 */
import type { CheckRecord, ReproducibilityStore, StoredExample } from '../../schemas/ports/reproducibility-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

export class PostgresReproducibilityStore implements ReproducibilityStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresReproducibilityStore> {
    await db.migrate();
    return new PostgresReproducibilityStore(db.share());
  }

  async putExamples(owner: string, name: string, version: number, examples: StoredExample[]): Promise<void> {
    await this.db.query(
      `INSERT INTO version_examples (owner, name, version, examples) VALUES ($1, $2, $3, $4)
       ON CONFLICT (owner, name, version) DO UPDATE SET examples = excluded.examples`,
      [owner, name, version, JSON.stringify(examples)],
      'store the examples of a version',
    );
  }

  async getExamples(owner: string, name: string, version: number): Promise<StoredExample[]> {
    const { rows } = await this.db.query<{ examples: string }>('SELECT examples FROM version_examples WHERE owner = $1 AND name = $2 AND version = $3', [owner, name, version], 'read the examples of a version');
    return rows[0] ? (JSON.parse(rows[0].examples) as StoredExample[]) : [];
  }

  async versionsWithExamples(): Promise<{ owner: string; name: string; version: number }[]> {
    const { rows } = await this.db.query<{ owner: string; name: string; version: number }>(
      // COLLATE "C": the byte order SQLite sorts by, whatever the database's locale.
      `SELECT owner, name, version FROM version_examples WHERE examples <> '[]' ORDER BY owner COLLATE "C", name COLLATE "C", version`,
      [],
      'list the versions with examples',
    );
    return rows;
  }

  async recordCheck(check: CheckRecord): Promise<void> {
    await this.db.query(
      'INSERT INTO reproducibility_checks (owner, name, version, checked_at, record) VALUES ($1, $2, $3, $4, $5)',
      [check.owner, check.name, check.version, check.checked_at, JSON.stringify(check)],
      'record a reproducibility check',
    );
  }

  async latestCheck(owner: string, name: string, version: number): Promise<CheckRecord | undefined> {
    const { rows } = await this.db.query<{ record: string }>(
      'SELECT record FROM reproducibility_checks WHERE owner = $1 AND name = $2 AND version = $3 ORDER BY id DESC LIMIT 1',
      [owner, name, version],
      'read the latest reproducibility check',
    );
    return rows[0] ? (JSON.parse(rows[0].record) as CheckRecord) : undefined;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
