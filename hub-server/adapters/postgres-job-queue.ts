/**
 * The job queue in PostgreSQL, hand-written on `FOR UPDATE SKIP LOCKED` rather than pg-boss: a job
 * here IS the task's (or action's) durable twin, keyed by the same id, so the registry's start-up
 * settling can ask in the same database, in one statement, whether a task still has a live job; the
 * claim is one UPDATE over an index of the unfinished jobs; a lease is a timestamp on the database's
 * clock (replicas' clocks may differ); and no second schema, maintenance loop or cron per replica
 * is added. SKIP LOCKED lets concurrent claims on many replicas each take a different job without
 * waiting on one another, and the row lock makes a claim atomic.
 */
import type { JobQueue, JobRecord, NewJob } from '../../schemas/ports/job-queue.ts';
import type { PostgresDatabase } from './postgres-database.ts';

interface JobRow {
  job_id: string;
  kind: string;
  payload: unknown;
  attempts: number;
  max_attempts: number;
  state: 'queued' | 'active' | 'done';
  lease_owner: string | null;
}

const toRecord = (row: JobRow): JobRecord => ({ job_id: row.job_id, kind: row.kind, payload: row.payload, attempts: row.attempts, max_attempts: row.max_attempts });

export class PostgresJobQueue implements JobQueue {
  private constructor(
    private readonly db: PostgresDatabase,
    readonly owner: string,
  ) {}

  static async open(db: PostgresDatabase, owner: string): Promise<PostgresJobQueue> {
    await db.migrate();
    return new PostgresJobQueue(db.share(), owner);
  }

  async addLeased(job: NewJob, leaseMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO jobs (job_id, kind, payload, state, attempts, max_attempts, lease_owner, lease_until)
       VALUES ($1, $2, $3, 'active', 1, $4, $5, now() + make_interval(secs => $6))`,
      [job.job_id, job.kind, JSON.stringify(job.payload), job.maxAttempts, this.owner, leaseMs / 1000],
      'queue a job',
    );
  }

  async claim(kinds: readonly string[], leaseMs: number): Promise<JobRecord | undefined> {
    const { rows } = await this.db.query<JobRow>(
      `UPDATE jobs SET state = 'active', lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1
       WHERE job_id = (
         SELECT job_id FROM jobs
         WHERE state <> 'done' AND kind = ANY($3::text[]) AND (state = 'queued' OR lease_until < now())
         ORDER BY created_at
         FOR UPDATE SKIP LOCKED
         LIMIT 1)
       RETURNING job_id, kind, payload, attempts, max_attempts, state, lease_owner`,
      [this.owner, leaseMs / 1000, [...kinds]],
      'claim a job',
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async renew(jobIds: readonly string[], leaseMs: number): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const { rows } = await this.db.query<{ job_id: string }>(
      `UPDATE jobs SET lease_until = now() + make_interval(secs => $3)
       WHERE job_id = ANY($2::text[]) AND lease_owner = $1 AND state = 'active'
       RETURNING job_id`,
      [this.owner, [...jobIds], leaseMs / 1000],
      'renew job leases',
    );
    return new Set(rows.map((row) => row.job_id));
  }

  async complete(jobId: string): Promise<void> {
    await this.db.query(`UPDATE jobs SET state = 'done', lease_owner = NULL, lease_until = NULL, finished_at = now() WHERE job_id = $1`, [jobId], 'finish a job');
  }

  async release(jobId: string): Promise<void> {
    await this.db.query(
      // A clean stop is no failed attempt: the next claim counts the same attempt again.
      `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL, attempts = GREATEST(attempts - 1, 0)
       WHERE job_id = $1 AND lease_owner = $2 AND state = 'active'`,
      [jobId, this.owner],
      'release a job',
    );
  }

  async get(jobId: string): Promise<(JobRecord & { state: JobRow['state']; lease_owner: string | null }) | undefined> {
    const { rows } = await this.db.query<JobRow>('SELECT job_id, kind, payload, attempts, max_attempts, state, lease_owner FROM jobs WHERE job_id = $1', [jobId], 'read a job');
    return rows[0] ? { ...toRecord(rows[0]), state: rows[0].state, lease_owner: rows[0].lease_owner } : undefined;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
