/** The embedded store of examples and reproducibility checks: `reproducibility.db` in the data folder. */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { CheckRecord, ReproducibilityStore, StoredExample } from '../../schemas/ports/reproducibility-store.ts';
import { openSqliteFile } from './sqlite-open.ts';

const MIGRATIONS = [
  `
  CREATE TABLE examples (
    owner    TEXT NOT NULL,
    name     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    examples TEXT NOT NULL,
    PRIMARY KEY (owner, name, version)
  );
  CREATE TABLE checks (
    id         INTEGER PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    checked_at TEXT NOT NULL,
    record     TEXT NOT NULL
  );
  CREATE INDEX checks_by_version ON checks (owner, name, version, id);
  `,
];

export class SqliteReproducibilityStore implements ReproducibilityStore {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string): SqliteReproducibilityStore {
    return new SqliteReproducibilityStore(openSqliteFile(file, MIGRATIONS, 'reproducibility store'));
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'reproducibility.db');
  }

  async putExamples(owner: string, name: string, version: number, examples: StoredExample[]): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO examples (owner, name, version, examples) VALUES (?, ?, ?, ?)').run(owner, name, version, JSON.stringify(examples));
  }

  async getExamples(owner: string, name: string, version: number): Promise<StoredExample[]> {
    const text = this.db.prepare('SELECT examples FROM examples WHERE owner = ? AND name = ? AND version = ?').pluck().get(owner, name, version) as string | undefined;
    return text === undefined ? [] : (JSON.parse(text) as StoredExample[]);
  }

  async versionsWithExamples(): Promise<{ owner: string; name: string; version: number }[]> {
    return this.db.prepare("SELECT owner, name, version FROM examples WHERE examples <> '[]' ORDER BY owner, name, version").all() as { owner: string; name: string; version: number }[];
  }

  async recordCheck(check: CheckRecord): Promise<void> {
    this.db.prepare('INSERT INTO checks (owner, name, version, checked_at, record) VALUES (?, ?, ?, ?, ?)').run(check.owner, check.name, check.version, check.checked_at, JSON.stringify(check));
  }

  async latestCheck(owner: string, name: string, version: number): Promise<CheckRecord | undefined> {
    const text = this.db.prepare('SELECT record FROM checks WHERE owner = ? AND name = ? AND version = ? ORDER BY id DESC LIMIT 1').pluck().get(owner, name, version) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as CheckRecord);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
