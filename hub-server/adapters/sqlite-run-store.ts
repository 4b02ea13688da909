/** The embedded run store: `runs.db` in the data folder. */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { ProvenanceRecord } from '../../schemas/provenance.ts';
import type { RunStore, StoredRun } from '../../schemas/ports/run-store.ts';
import { openSqliteFile } from './sqlite-open.ts';

const MIGRATIONS = [
  `
  CREATE TABLE runs (
    run_id     TEXT PRIMARY KEY,
    servable   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    record     TEXT NOT NULL,
    inputs     TEXT NOT NULL,
    parameters TEXT NOT NULL,
    output     TEXT NOT NULL,
    caller     TEXT,
    stored_at  TEXT NOT NULL
  );
  CREATE INDEX runs_by_servable ON runs (servable, version, stored_at);
  `,
];

interface RunRow {
  record: string;
  inputs: string;
  parameters: string;
  output: string;
  caller: string | null;
  stored_at: string;
}

export class SqliteRunStore implements RunStore {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string): SqliteRunStore {
    return new SqliteRunStore(openSqliteFile(file, MIGRATIONS, 'run store'));
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'runs.db');
  }

  async put(run: StoredRun): Promise<void> {
    this.db
      .prepare(`INSERT OR IGNORE INTO runs (run_id, servable, version, record, inputs, parameters, output, caller, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        run.record.run_id,
        run.record.servable,
        run.record.version,
        JSON.stringify(run.record),
        JSON.stringify(run.inputs ?? null),
        JSON.stringify(run.parameters),
        JSON.stringify(run.output ?? null),
        run.caller,
        run.stored_at,
      );
  }

  async get(runId: string): Promise<StoredRun | undefined> {
    const row = this.db.prepare('SELECT record, inputs, parameters, output, caller, stored_at FROM runs WHERE run_id = ?').get(runId) as RunRow | undefined;
    if (!row) return undefined;
    return {
      record: JSON.parse(row.record) as ProvenanceRecord,
      inputs: JSON.parse(row.inputs) as unknown,
      parameters: JSON.parse(row.parameters) as Record<string, unknown>,
      output: JSON.parse(row.output) as unknown,
      caller: row.caller,
      stored_at: row.stored_at,
    };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
