/**
 * PostgreSQL mode: the work queue that lets any replica finish what another accepted (see
 * use-cases/job-runner.ts). `app.jobs` is undefined with the embedded SQLite registry, where the
 * hub that accepts work does it, as before. This plugin handles asynchronous runs and publishes
 * (any replica builds a publish whose replica died); the actions plugin registers its own kind. It also listens for
 * changes to servables made on other replicas (LISTEN/NOTIFY) and drops this replica's cached versions.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { toHubError } from '../../schemas/errors.ts';
import type { Gateway } from '../use-cases/gateway/gateway.ts';
import type { JobHandler } from '../use-cases/job-runner.ts';
import { JobRunner } from '../use-cases/job-runner.ts';
import type { Registry, TaskPatch } from '../../schemas/ports/registry.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { ServableRef } from '../../schemas/ports/run-service.ts';

/**
 * How long a replica trusts a token it verified without reading it again. Revocations reach every
 * replica at once (NOTIFY); this bounds what a replica misses if a notification is lost unnoticed.
 */
const VERIFIED_TOKEN_TTL_MS = 30_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** The replicas' shared work queue; undefined unless MODELHUB_DATABASE_URL is set. */
    jobs: JobRunner | undefined;
  }
}

/** What an asynchronous run's job holds: enough for any replica to run it. */
export interface RunJob {
  ref: ServableRef;
  call: Parameters<Gateway['run']>[1];
  viewer: Viewer;
}

/** An asynchronous run: run it unless its task already has an outcome, and record the outcome. */
export function runJobHandler(registry: Registry, gateway: Pick<Gateway, 'run'>): JobHandler {
  return {
    async run(job) {
      const { ref, call, viewer } = job.payload as RunJob;
      const task = await registry.getTask(job.job_id);
      if (!task || task.status === 'SUCCEEDED' || task.status === 'FAILED') return;
      if (job.attempts > 1) {
        await registry.appendTaskLog(job.job_id, `${new Date().toISOString()} the replica running this task stopped; running it again (attempt ${job.attempts} of ${job.max_attempts})`);
      }
      let outcome: TaskPatch;
      try {
        outcome = { status: 'SUCCEEDED', result: await gateway.run(ref, call, viewer), completed_at: new Date().toISOString() };
      } catch (error) {
        const hubError = toHubError(error);
        // The database away: the outcome could not be told anyway; the job is tried again.
        if (hubError.code === 'MODELHUB_BACKEND_UNAVAILABLE') throw hubError;
        outcome = { status: 'FAILED', error: { code: hubError.code, message: hubError.message, details: hubError.details }, completed_at: new Date().toISOString() };
      }
      await registry.updateTask(job.job_id, outcome);
    },
    async abandon(job, reason) {
      const task = await registry.getTask(job.job_id);
      if (!task || task.status === 'SUCCEEDED' || task.status === 'FAILED') return;
      await registry.updateTask(job.job_id, { status: 'FAILED', error: { code: 'MODELHUB_INTERNAL', message: reason }, completed_at: new Date().toISOString() });
    },
  };
}

async function replicaJobs(app: FastifyInstance): Promise<void> {
  const { config, database, registry, gateway } = app.hub;
  if (!config.databaseUrl || !database) {
    app.decorate('jobs', undefined);
    return;
  }
  const { PostgresJobQueue } = await import('../adapters/postgres-job-queue.ts');
  const queue = await PostgresJobQueue.open(database, `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`);
  const runner = new JobRunner(queue, {
    leaseMs: config.jobLeaseMs,
    log: (message, error) => (error ? app.log.warn({ err: error }, message) : app.log.warn(message)),
  });
  runner.handle('run', runJobHandler(registry, gateway));
  // A publish is built by the replica that accepted it; when that one dies, another builds it again
  // from the uploads in the shared blob store (or finishes it, if its version was committed).
  runner.handle('publish', {
    run: (job) => app.hub.publisher.runJob(job),
    abandon: (job, reason) => app.hub.publisher.settleAbandoned(job.job_id, reason),
  });
  app.hub.publisher.useJobs(runner);
  app.decorate('jobs', runner);
  // Publishes, withdrawals and visibility changes made on other replicas drop this one's cached versions.
  const { PostgresChangeFeed } = await import('../adapters/postgres-change-feed.ts');
  // Tokens verified here are kept a while (no database read on an authenticated run) while the feed
  // listens, and dropped when any replica revokes them; none are kept while it does not.
  const tokens = app.hub.tokens;
  const changes = new PostgresChangeFeed(config.databaseUrl, {
    onChange: (owner, name) => gateway.invalidate(owner, name),
    onConnected: () => {
      gateway.invalidateAll();
      tokens.forgetVerified?.();
      tokens.cacheVerified?.(VERIFIED_TOKEN_TTL_MS);
    },
    // Not hearing revocations: tokens are read every time until the feed is back.
    onDisconnected: () => {
      tokens.cacheVerified?.(0);
      tokens.forgetVerified?.();
    },
    onTokenRevoked: (id) => tokens.forgetVerified?.(id),
    log: (message, error) => app.log.warn({ err: error }, message),
  });
  await changes.start();
  app.addHook('onReady', async () => runner.start());
  // Before anything stops: no new claims, and work ending from now on is handed back, not finished.
  app.addHook('preClose', async () => runner.stop());
  app.addHook('onClose', async () => {
    await runner.settled();
    await queue.close();
    await changes.close();
  });
}

export default fp(replicaJobs, { name: 'replica-jobs', dependencies: ['hub-services'], fastify: '5.x' });
