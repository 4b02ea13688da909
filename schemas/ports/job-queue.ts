/**
 * A durable queue of work that any replica can finish: asynchronous runs, actions and publishes.
 * A job is leased to the replica working on it, which renews the lease while it works (a
 * heartbeat); when the lease runs out (the replica was killed), another replica claims the job and
 * resumes or retries it. A job is attempted at most `max_attempts` times; handlers make each
 * attempt idempotent (they look at the task or action first and do only what is left).
 */
export interface JobRecord {
  job_id: string;
  kind: string;
  payload: unknown;
  /** Attempts so far, this one included. */
  attempts: number;
  max_attempts: number;
}

export interface NewJob {
  job_id: string;
  kind: string;
  payload: unknown;
  maxAttempts: number;
}

export interface JobQueue {
  /** The replica's name on the leases it holds. */
  readonly owner: string;
  /** Adds a job leased to this replica at once (it starts working on it now): attempt 1. */
  addLeased(job: NewJob, leaseMs: number): Promise<void>;
  /**
   * Claims one job of these kinds that nobody holds (queued, or its lease ran out), oldest first,
   * leased to this replica; counts the attempt. Undefined when there is none.
   */
  claim(kinds: readonly string[], leaseMs: number): Promise<JobRecord | undefined>;
  /** Renews this replica's leases on these jobs; answers the ids it still holds (a lost lease is someone else's now). */
  renew(jobIds: readonly string[], leaseMs: number): Promise<Set<string>>;
  /** The job is over (succeeded, failed for good, or given up): never claimed again. */
  complete(jobId: string): Promise<void>;
  /** This replica stops working on the job without finishing it (a clean stop): another claims it at once. */
  release(jobId: string): Promise<void>;
  /** The job's state, for tests and status: undefined when there is no such job. */
  get(jobId: string): Promise<(JobRecord & { state: 'queued' | 'active' | 'done'; lease_owner: string | null }) | undefined>;
  close(): Promise<void>;
}
