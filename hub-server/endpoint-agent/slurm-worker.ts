/**
 * A Slurm worker job of a compute endpoint: `node --import tsx endpoint/slurm-worker.ts <folder>
 * <idle seconds> <concurrency>`, started by the job script the Slurm executor submits. It claims
 * queued tasks, runs up to <concurrency> at once with the hub's runtimes (so the dynamic batcher
 * batches them), answers each, and ends after <idle seconds> with nothing to do: the warm pool
 * shrinks by itself.
 */
import path from 'node:path';
import { FsBlobStore } from '../adapters/fs-blob-store.ts';
import { toHubError } from '../../schemas/errors.ts';
import { LocalExecutor } from './local-executor.ts';
import { SlurmQueue } from './slurm-queue.ts';
import fs from 'node:fs/promises';

const [folder, idleArg, concurrencyArg] = process.argv.slice(2);
if (!folder) throw new Error('usage: slurm-worker.ts <folder> <idle seconds> <concurrency>');
const idleMs = Number(idleArg ?? 60) * 1000;
const concurrency = Math.max(1, Number(concurrencyArg ?? 8));
const jobId = process.env.SLURM_JOB_ID ?? `local-${process.pid}`;
const queue = new SlurmQueue(folder);
await queue.init();
// The endpoint's verified file cache (the agent fetched every file before queueing the task);
// each job has its own work folder, so two jobs never lay out the same servable folder at once.
const executor = new LocalExecutor({ stateDir: path.join(folder, 'work', jobId), blobs: new FsBlobStore(path.join(folder, '..', 'blobs')) });

let running = 0;
let idleSince = Date.now();

async function runOne(claimed: { path: string; entry: import('./slurm-queue.ts').QueuedTask }): Promise<void> {
  const { task } = claimed.entry;
  try {
    const outcome = await executor.run(task);
    await queue.answer(task.task_id, { ok: true, ...outcome });
  } catch (error) {
    const hubError = toHubError(error, 'SERVABLE_FAILED');
    await queue.answer(task.task_id, { ok: false, error: { code: hubError.code, message: hubError.message, ...(hubError.details === undefined ? {} : { details: hubError.details }) } });
  }
  await fs.rm(claimed.path, { force: true });
}

for (;;) {
  let claimedAny = false;
  if (running < concurrency) {
    for (const file of await queue.waiting()) {
      if (running >= concurrency) break;
      const claimed = await queue.claim(jobId, file);
      if (!claimed) continue;
      claimedAny = true;
      running += 1;
      void runOne(claimed).finally(() => {
        running -= 1;
        idleSince = Date.now();
      });
    }
  }
  if (running > 0 || claimedAny) idleSince = Date.now();
  else if (Date.now() - idleSince > idleMs) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await executor.close();
process.exit(0);
