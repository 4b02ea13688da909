/**
 * Examples and reproducibility checks of servable versions (docs/provenance.md): example inputs
 * with their expected outputs, and the result of each check that re-ran them.
 */

export type CheckStatus = 'reproducible' | 'drifted' | 'fails';

export interface StoredExample {
  name: string;
  method: string;
  inputs: unknown;
  parameters?: Record<string, unknown>;
  expected: unknown;
  /** Largest absolute difference allowed: one for every output, or one per named output. */
  tolerance?: number | Record<string, number>;
  /** Given at publish (`metadata`), or recorded from the warm-up input's first run (`warm-up`). */
  source: 'metadata' | 'warm-up';
}

export interface ExampleOutcome {
  example: string;
  status: CheckStatus;
  /** The output that differs most (drifted) and by how much. */
  output?: string;
  difference?: number;
  message?: string;
}

export interface CheckRecord {
  owner: string;
  name: string;
  version: number;
  status: CheckStatus;
  summary: string;
  checked_at: string;
  reason: 'publish' | 'schedule' | 'runtime-upgrade' | 'manual';
  /** The runtime that ran the check (RuntimeVersions.fingerprint): a change means an upgrade. */
  runtime: string;
  examples: ExampleOutcome[];
}

export interface ReproducibilityStore {
  putExamples(owner: string, name: string, version: number, examples: StoredExample[]): Promise<void>;
  getExamples(owner: string, name: string, version: number): Promise<StoredExample[]>;
  /** Every version that has examples. */
  versionsWithExamples(): Promise<{ owner: string; name: string; version: number }[]>;
  recordCheck(check: CheckRecord): Promise<void>;
  latestCheck(owner: string, name: string, version: number): Promise<CheckRecord | undefined>;
  close(): Promise<void>;
}
