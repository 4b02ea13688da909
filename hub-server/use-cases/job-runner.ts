/**
 * Works the durable job queue on one replica. A job this replica accepts (an asynchronous run, an
 * action, a publish) is written to the queue leased to it before the work starts, so that its
 * replica dying loses nothing; while the work runs, a heartbeat renews the lease. Every replica
 * also polls for jobs whose lease ran out (their replica was killed) and resumes them with the
 * kind's handler; a job attempted `max_attempts` times is abandoned: its handler fails the task or
 * action with the reason, so a client never waits on work nobody does.
 *
 * Handlers are idempotent: they read the task or action first and do only what is left, so a job
 * worked twice (a replica that was slow, not dead, and lost its lease) changes nothing twice.
 */
import type { JobQueue, JobRecord } from '../../schemas/ports/job-queue.ts';

export interface JobHandler {
  /** Works a job to its end: the first attempt, or a resumption after another replica stopped. */
  run(job: JobRecord): Promise<void>;
  /** The job was attempted `max_attempts` times: record why it will not be tried again. */
  abandon(job: JobRecord, reason: string): Promise<void>;
}

export interface JobRunnerOptions {
  /** How long a lease lasts without a heartbeat (MODELHUB_JOB_LEASE_SECONDS, default 30 s). */
  leaseMs: number;
  /** How often this replica looks for jobs whose lease ran out (default a quarter of the lease). */
  pollMs?: number;
  /** Jobs of other replicas this one resumes at once, at most. */
  maxResumed?: number;
  log: (message: string, error?: unknown) => void;
}

export const DEFAULT_MAX_ATTEMPTS = 3;

export class JobRunner {
  private readonly handlers = new Map<string, JobHandler>();
  /** Jobs this replica works now, by id: the lease each heartbeat renews. */
  private readonly working = new Map<string, Promise<void>>();
  private resumed = 0;
  private heartbeat?: NodeJS.Timeout;
  private poller?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private stopping = false;

  constructor(
    readonly queue: JobQueue,
    private readonly options: JobRunnerOptions,
  ) {}

  handle(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Starts the heartbeat and the poll for jobs left by replicas that stopped. */
  start(): void {
    this.heartbeat = setInterval(() => void this.renew(), Math.max(50, this.options.leaseMs / 3));
    this.heartbeat.unref();
    const poll = () => {
      if (this.stopping) return;
      this.polling = this.pollOnce()
        .catch((error: unknown) => this.options.log('looking for jobs to resume failed; tried again later', error))
        .finally(() => {
          if (!this.stopping) this.poller = setTimeout(poll, this.options.pollMs ?? Math.max(50, this.options.leaseMs / 4)).unref();
        });
    };
    poll();
  }

  /** Queues a job leased to this replica, then works it here with its kind's handler. */
  async submit(kind: string, jobId: string, payload: unknown, maxAttempts = DEFAULT_MAX_ATTEMPTS): Promise<void> {
    await this.queue.addLeased({ job_id: jobId, kind, payload, maxAttempts }, this.options.leaseMs);
    this.follow(jobId, this.handlerOf(kind).run({ job_id: jobId, kind, payload, attempts: 1, max_attempts: maxAttempts }));
  }

  /** Queues a job leased to this replica for work already running here; `done` settles when it ends. */
  async track(kind: string, jobId: string, payload: unknown, done: Promise<unknown>, maxAttempts = DEFAULT_MAX_ATTEMPTS): Promise<void> {
    this.handlerOf(kind);
    await this.queue.addLeased({ job_id: jobId, kind, payload, maxAttempts }, this.options.leaseMs);
    this.follow(jobId, done.then(() => undefined));
  }

  /** One look for jobs nobody holds; resumes up to `maxResumed` of them at once. */
  async pollOnce(): Promise<void> {
    const kinds = [...this.handlers.keys()];
    while (!this.stopping && kinds.length > 0 && this.resumed < (this.options.maxResumed ?? 4)) {
      const job = await this.queue.claim(kinds, this.options.leaseMs);
      if (!job) return;
      const handler = this.handlerOf(job.kind);
      if (job.attempts > job.max_attempts) {
        const reason = `the replicas working on it stopped ${job.max_attempts} times; it is not tried again`;
        this.options.log(`job ${job.kind} ${job.job_id}: abandoned: ${reason}`);
        this.follow(job.job_id, handler.abandon(job, reason), true);
        continue;
      }
      this.options.log(`job ${job.kind} ${job.job_id}: resuming (attempt ${job.attempts} of ${job.max_attempts}): the replica working on it stopped`);
      this.resumed += 1;
      this.follow(job.job_id, handler.run(job).finally(() => (this.resumed -= 1)));
    }
  }

  /**
   * Stops taking jobs and renewing leases (before the hub's services stop). Jobs still here when
   * their work ends are released, not completed, so that another replica claims them at once; a
   * handler finds what is already done and does nothing twice.
   */
  stop(): void {
    this.stopping = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.poller);
  }

  /** Waits for the work followed here to be completed or released (after the services drained). */
  async settled(): Promise<void> {
    await this.polling;
    await Promise.allSettled([...this.working.values()]);
  }

  private handlerOf(kind: string): JobHandler {
    const handler = this.handlers.get(kind);
    if (!handler) throw new Error(`no handler for jobs of kind ${kind}`);
    return handler;
  }

  private follow(jobId: string, work: Promise<void>, finishing = false): void {
    const followed = work
      .then(
        async () => {
          if (this.stopping && !finishing) await this.queue.release(jobId);
          else await this.queue.complete(jobId);
        },
        (error: unknown) => {
          // Work that could not record its outcome (the database away): no longer renewed, its
          // lease runs out and an attempt later (here or elsewhere) finds what is done and does the rest.
          this.options.log(`job ${jobId} stopped before it finished; it is tried again once its lease runs out`, error);
        },
      )
      // The queue unreachable too: the lease runs out and another replica claims the job.
      .catch((error: unknown) => this.options.log(`job ${jobId}: could not record its end; its lease will run out`, error))
      .finally(() => this.working.delete(jobId));
    this.working.set(jobId, followed);
  }

  private async renew(): Promise<void> {
    const ids = [...this.working.keys()];
    if (ids.length === 0 || this.stopping) return;
    try {
      const held = await this.queue.renew(ids, this.options.leaseMs);
      for (const id of ids) if (!held.has(id) && this.working.has(id)) this.options.log(`job ${id}: lease lost to another replica (this one was too slow to renew it)`);
    } catch (error) {
      this.options.log('renewing job leases failed; tried again at the next heartbeat', error);
    }
  }
}
