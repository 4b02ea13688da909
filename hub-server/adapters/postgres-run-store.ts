/**
 * Stored runs (provenance) in PostgreSQL: a run made through one replica is read, exported as an
 * RO-Crate and replayed through any other. The JSON is kept as the text it was given, as in the
 * embedded store (digests in a provenance record are compared with what was stored).
 */
import type { ProvenanceRecord } from '../../schemas/provenance.ts';
import type { RunStore, StoredRun } from '../../schemas/ports/run-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

interface RunRow {
  record: string;
  inputs: string;
  parameters: string;
  output: string;
  caller: string | null;
  stored_at: string;
}

export class PostgresRunStore implements RunStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresRunStore> {
    await db.migrate();
    return new PostgresRunStore(db.share());
  }

  async put(run: StoredRun): Promise<void> {
    await this.db.query(
      `INSERT INTO stored_runs (run_id, servable, version, record, inputs, parameters, output, caller, stored_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (run_id) DO NOTHING`,
      [
        run.record.run_id,
        run.record.servable,
        run.record.version,
        JSON.stringify(run.record),
        JSON.stringify(run.inputs ?? null),
        JSON.stringify(run.parameters),
        JSON.stringify(run.output ?? null),
        run.caller,
        run.stored_at,
      ],
      'store a run',
    );
  }

  async get(runId: string): Promise<StoredRun | undefined> {
    const { rows } = await this.db.query<RunRow>('SELECT record, inputs, parameters, output, caller, stored_at FROM stored_runs WHERE run_id = $1', [runId], 'read a stored run');
    const row = rows[0];
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
    await this.db.close();
  }
}
