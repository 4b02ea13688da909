/**
 * Stored runs: the provenance record of a run with the inputs, parameters and output it names, so
 * that the run can be exported as an RO-Crate and replayed (docs/provenance.md). Asynchronous runs
 * and actions are always stored; synchronous ones when the caller asks for provenance.
 */
import type { ProvenanceRecord } from '../provenance.ts';

export interface StoredRun {
  record: ProvenanceRecord;
  inputs: unknown;
  parameters: Record<string, unknown>;
  output: unknown;
  /** The signed-in user who made the run (who may read it, with admins); null: anonymous. */
  caller: string | null;
  stored_at: string;
}

export interface RunStore {
  /** Store a run; a run_id stored before keeps its first record (the original of cached replies). */
  put(run: StoredRun): Promise<void>;
  get(runId: string): Promise<StoredRun | undefined>;
  close(): Promise<void>;
}
