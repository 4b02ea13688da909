/**
 * Usage an author can see (docs/usage.md): runs, errors, latency and distinct callers per servable
 * version and day. Callers are stored only as salted hashes, so that the counts can say "how many"
 * and never "who".
 */

export interface UsageIncrement {
  owner: string;
  name: string;
  version: number;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  runs: number;
  errors: number;
  /** Sum of the runs' latencies (ms): the mean is total_ms / runs. */
  total_ms: number;
  /** Runs made without signing in: counted, but they name no caller. */
  anonymous_runs: number;
  /** Salted hashes of the signed-in callers of these runs. */
  caller_hashes: string[];
}

export interface UsageDay {
  version: number;
  day: string;
  runs: number;
  errors: number;
  total_ms: number;
  anonymous_runs: number;
  distinct_callers: number;
}

export interface UsageStore {
  /** The salt caller hashes are made with: chosen once per store, never shown. */
  salt(): Promise<string>;
  add(increments: UsageIncrement[]): Promise<void>;
  /** Per version and day, from `since` (YYYY-MM-DD) on; one version, or all. */
  days(owner: string, name: string, since: string, version?: number): Promise<UsageDay[]>;
  /** Distinct callers over the whole range (a caller on two days counts once). */
  distinctCallers(owner: string, name: string, since: string, version?: number): Promise<number>;
  close(): Promise<void>;
}
