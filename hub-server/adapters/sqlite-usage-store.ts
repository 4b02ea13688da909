/** The embedded store of usage counts: `usage.db` in the data folder (docs/usage.md). */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { UsageDay, UsageIncrement, UsageStore } from '../../schemas/ports/usage-store.ts';
import { openSqliteFile } from './sqlite-open.ts';

const MIGRATIONS = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE usage_days (
    owner          TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    day            TEXT NOT NULL,
    runs           INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    total_ms       REAL NOT NULL,
    anonymous_runs INTEGER NOT NULL,
    PRIMARY KEY (owner, name, version, day)
  );
  CREATE TABLE usage_callers (
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    day         TEXT NOT NULL,
    caller_hash TEXT NOT NULL,
    PRIMARY KEY (owner, name, version, day, caller_hash)
  );
  `,
];

export class SqliteUsageStore implements UsageStore {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string): SqliteUsageStore {
    return new SqliteUsageStore(openSqliteFile(file, MIGRATIONS, 'usage store'));
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'usage.db');
  }

  async salt(): Promise<string> {
    // Chosen once and kept: the same caller hashes alike on every day, so distinct counts add up.
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)").run(randomBytes(32).toString('base64url'));
    return this.db.prepare("SELECT value FROM meta WHERE key = 'salt'").pluck().get() as string;
  }

  async add(increments: UsageIncrement[]): Promise<void> {
    const day = this.db.prepare(`
      INSERT INTO usage_days (owner, name, version, day, runs, errors, total_ms, anonymous_runs) VALUES (@owner, @name, @version, @day, @runs, @errors, @total_ms, @anonymous_runs)
      ON CONFLICT (owner, name, version, day) DO UPDATE SET runs = runs + excluded.runs, errors = errors + excluded.errors,
        total_ms = total_ms + excluded.total_ms, anonymous_runs = anonymous_runs + excluded.anonymous_runs`);
    const caller = this.db.prepare('INSERT OR IGNORE INTO usage_callers (owner, name, version, day, caller_hash) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const increment of increments) {
        const { caller_hashes: hashes, ...counts } = increment;
        day.run(counts);
        for (const hash of hashes) caller.run(increment.owner, increment.name, increment.version, increment.day, hash);
      }
    })();
  }

  async days(owner: string, name: string, since: string, version?: number): Promise<UsageDay[]> {
    return this.db
      .prepare(`
        SELECT d.version, d.day, d.runs, d.errors, d.total_ms, d.anonymous_runs,
          (SELECT COUNT(*) FROM usage_callers c WHERE c.owner = d.owner AND c.name = d.name AND c.version = d.version AND c.day = d.day) AS distinct_callers
        FROM usage_days d WHERE d.owner = ? AND d.name = ? AND d.day >= ? AND (? IS NULL OR d.version = ?)
        ORDER BY d.day, d.version`)
      .all(owner, name, since, version ?? null, version ?? null) as UsageDay[];
  }

  async distinctCallers(owner: string, name: string, since: string, version?: number): Promise<number> {
    return this.db
      .prepare('SELECT COUNT(DISTINCT caller_hash) FROM usage_callers WHERE owner = ? AND name = ? AND day >= ? AND (? IS NULL OR version = ?)')
      .pluck()
      .get(owner, name, since, version ?? null, version ?? null) as number;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
