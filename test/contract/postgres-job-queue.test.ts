/**
 * The replicas' job queue on PostgreSQL: concurrent claims from several replicas each take a
 * different job (SKIP LOCKED); a held lease is never claimed, a lease that ran out is; a replica
 * that stops working (no heartbeat: as if killed) has its job resumed by another replica's runner,
 * with the attempt counted, and a job that keeps losing its replicas is abandoned with the reason.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresJobQueue } from '../../hub-server/adapters/postgres-job-queue.ts';
import type { JobRecord } from '../../schemas/ports/job-queue.ts';
import { JobRunner } from '../../hub-server/use-cases/job-runner.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';

const eventually = async (what: string, check: () => Promise<boolean>, timeoutMs = 15_000) => {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await check()) return;
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
};

describePostgres('PostgresJobQueue and JobRunner', () => {
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  const queues: PostgresJobQueue[] = [];
  const runners: JobRunner[] = [];
  const openQueue = async (owner: string) => {
    const db = PostgresDatabase.open(schema.url);
    const queue = await PostgresJobQueue.open(db, owner);
    await db.close();
    queues.push(queue);
    return queue;
  };
  beforeEach(async () => {
    schema = await freshSchema();
  });
  afterEach(async () => {
    for (const runner of runners.splice(0)) runner.stop();
    for (const queue of queues.splice(0)) await queue.close();
    await schema.drop();
  });

  it('gives each of many concurrent claims a different job, and never a held one', async () => {
    const seeder = await openQueue('seeder');
    for (let i = 0; i < 12; i++) {
      await seeder.addLeased({ job_id: `job-${i}`, kind: 'run', payload: { i }, maxAttempts: 3 }, 1);
    }
    await seeder.addLeased({ job_id: 'held', kind: 'run', payload: {}, maxAttempts: 3 }, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the 1 ms leases run out
    const replicas = await Promise.all(['a', 'b', 'c'].map((owner) => openQueue(owner)));
    const claims = await Promise.all(Array.from({ length: 15 }, (_, i) => replicas[i % 3]!.claim(['run'], 60_000)));
    const claimed = claims.filter((job): job is JobRecord => job !== undefined).map((job) => job.job_id);
    expect(claimed.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `job-${i}`).sort());
    expect(claims.filter((job) => job === undefined)).toHaveLength(3);
    expect(claims.find((job) => job?.job_id === 'job-0')?.attempts).toBe(2);
    expect((await seeder.get('held'))?.lease_owner).toBe('seeder');
    expect(await replicas[0]!.claim(['action'], 60_000)).toBeUndefined();
  });

  it("resumes on another replica a job whose replica stopped renewing its lease, and abandons one that keeps losing them", async () => {
    const log: string[] = [];
    const done: string[] = [];
    const dying = new JobRunner(await openQueue('dying'), { leaseMs: 600, log: (line) => log.push(line) });
    runners.push(dying);
    dying.handle('run', { run: () => new Promise(() => undefined), abandon: async () => undefined });
    await dying.submit('run', 'task-1', { servable: 'alice/m' });
    // The replica dies: no heartbeat any more, and nothing handed back.
    dying.stop();

    const attempts: number[] = [];
    const survivor = new JobRunner(await openQueue('survivor'), { leaseMs: 600, pollMs: 100, log: (line) => log.push(line) });
    runners.push(survivor);
    survivor.handle('run', {
      run: async (job) => {
        attempts.push(job.attempts);
        expect(job.payload).toEqual({ servable: 'alice/m' });
        done.push(job.job_id);
      },
      abandon: async (job, reason) => void done.push(`abandoned ${job.job_id}: ${reason}`),
    });
    survivor.start();
    await eventually('the survivor resumed task-1', async () => (await survivor.queue.get('task-1'))?.state === 'done');
    expect(done).toEqual(['task-1']);
    expect(attempts).toEqual([2]);
    expect(log.some((line) => line.includes('job run task-1: resuming (attempt 2 of 3)'))).toBe(true);

    // A job whose replicas all died (attempts used up) is abandoned, with the reason, not run again.
    const seeder = await openQueue('seeder');
    await seeder.addLeased({ job_id: 'task-2', kind: 'run', payload: {}, maxAttempts: 1 }, 1);
    await eventually('task-2 was abandoned', async () => (await survivor.queue.get('task-2'))?.state === 'done');
    expect(done).toEqual(['task-1', 'abandoned task-2: the replicas working on it stopped 1 times; it is not tried again']);
  });

  it('hands back the work of a replica stopping cleanly, so another claims it at once without an attempt lost', async () => {
    const queue = await openQueue('stopping');
    const runner = new JobRunner(queue, { leaseMs: 60_000, log: () => undefined });
    runners.push(runner);
    let finish!: () => void;
    runner.handle('action', { run: () => new Promise<void>((resolve) => (finish = resolve)), abandon: async () => undefined });
    await runner.submit('action', 'action-1', {});
    runner.stop();
    finish();
    await runner.settled();
    expect(await queue.get('action-1')).toMatchObject({ state: 'queued', lease_owner: null, attempts: 0 });
    const other = await openQueue('other');
    expect(await other.claim(['action'], 60_000)).toMatchObject({ job_id: 'action-1', attempts: 1 });
  });
});
