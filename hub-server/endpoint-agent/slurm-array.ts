/**
 * A batch chunk on a Slurm endpoint as ONE job array (`sbatch --array=0-(k-1)`): the chunk's
 * records are split into k slices (k = the endpoint's max workers, at most one per record), and
 * array task i runs slice i with the hub's runtimes (slurm-array-task.ts) and writes its outcomes
 * to `out-<i>.json` in the chunk's folder. The array tasks are followed with `squeue -r`; one that
 * leaves the queue without its outcomes (scancel'ed, killed, timed out) has its final state read
 * from `sacct`/`scontrol`, and its slice is submitted again once, alone (`--array=i`); a second
 * loss fails that slice's records with both reasons. No record is lost with an array task.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ChunkOutcome } from '../../schemas/endpoints.ts';
import { HubError } from '../../schemas/errors.ts';
import { SlurmQueue } from './slurm-queue.ts';
import type { TaskMessage } from './task-executor.ts';

const run = promisify(execFile);

export interface ArrayContext {
  /** The endpoint's Slurm folder (shared with the compute nodes). */
  root: string;
  /** Slices per chunk: the endpoint's max workers. */
  slices: number;
  /** The job script: its lines before the command, and how the array task's Node starts. */
  scriptHead: string[];
  command: string;
  /** Records an array task runs at once. */
  concurrency: number;
  /** sbatch's resource options (partition, account, time ...), as the worker jobs get them. */
  resourceArgs: string[];
  pollMs: number;
  /** Array jobs submitted and not yet finished (the executor cancels them when it stops). */
  jobs: Set<string>;
  closed: () => boolean;
  finalState: (job: string) => Promise<string>;
  onSbatchError: (stderr: string) => void;
  log?: (line: string) => void;
}

/** Job states in which a job is done (from squeue's and sacct's documentation). */
const ENDED = /^(COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|REVOKED|ENDED)/;

interface Slice {
  /** `<array job id>_<index>` */
  job: string;
  lost: number;
  reason?: string;
}

export async function runChunkAsArray(ctx: ArrayContext, task: TaskMessage): Promise<ChunkOutcome[]> {
  const records = task.inputs as unknown[];
  if (records.length === 0) return [];
  const dir = path.join(ctx.root, 'arrays', task.task_id);
  await fs.mkdir(dir, { recursive: true });
  const slices = Math.max(1, Math.min(records.length, ctx.slices));
  const size = Math.ceil(records.length / slices);
  const outcomes: ChunkOutcome[] = new Array(records.length);
  const submitted = new Set<string>();
  try {
    await SlurmQueue.writeAtomic(path.join(dir, 'task.json'), { task, size });
    const script = path.join(dir, 'array.sh');
    await fs.writeFile(script, [...ctx.scriptHead, `exec ${ctx.command} ${JSON.stringify(ctx.root)} ${JSON.stringify(task.task_id)} "$SLURM_ARRAY_TASK_ID" ${ctx.concurrency}`, ''].join('\n'), { mode: 0o755 });
    const submit = async (indices: string): Promise<string> => {
      try {
        const { stdout } = await run('sbatch', ['--parsable', '--job-name=modelhub-array', `--output=${path.join(dir, '%A_%a.out')}`, `--array=${indices}`, ...ctx.resourceArgs, script]);
        const job = stdout.trim().split(';')[0];
        if (!job || !/^\d+$/.test(job)) throw Object.assign(new Error(`sbatch printed no job id: ${stdout}`), { stderr: stdout });
        submitted.add(job);
        ctx.jobs.add(job);
        return job;
      } catch (error) {
        const stderr = ((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
        ctx.onSbatchError(stderr);
        throw new HubError('SERVABLE_FAILED', `the endpoint's Slurm refused the batch's job array: ${stderr}`, { details: { sbatch: stderr } });
      }
    };
    const first = await submit(`0-${slices - 1}`);
    ctx.log?.(`submitted slurm job array ${first} (${slices} task(s), ${records.length} records)`);
    const pending = new Map<number, Slice>(Array.from({ length: slices }, (_, i) => [i, { job: `${first}_${i}`, lost: 0 }]));

    const collect = async (index: number): Promise<boolean> => {
      const text = await fs.readFile(path.join(dir, `out-${index}.json`), 'utf8').catch(() => undefined);
      if (text === undefined) return false;
      const slice = JSON.parse(text) as ChunkOutcome[];
      slice.forEach((outcome, i) => (outcomes[index * size + i] = outcome));
      pending.delete(index);
      return true;
    };

    while (pending.size > 0) {
      if (ctx.closed()) throw new HubError('NOT_READY', 'the endpoint is stopping');
      if (Date.now() > task.deadline) throw new HubError('DEADLINE_EXCEEDED', `the job array did not finish before the chunk's deadline`);
      await new Promise((resolve) => setTimeout(resolve, ctx.pollMs));
      for (const index of [...pending.keys()]) await collect(index);
      if (pending.size === 0) break;
      const bases = [...new Set([...pending.values()].map((slice) => slice.job.split('_')[0]!))];
      // squeue failing (slurmctld busy, a timeout) tells nothing: look again on the next round.
      const listed = await run('squeue', ['-h', '-r', '-o', '%i %T', '-j', bases.join(',')]).catch((error: { stdout?: string; stderr?: string }) => {
        // A job id slurmctld has forgotten already is an error too, and then nothing is live.
        return /Invalid job id/i.test(error.stderr ?? '') ? { stdout: error.stdout ?? '' } : undefined;
      });
      if (!listed) continue;
      const { stdout } = listed;
      const live = new Set<string>();
      for (const line of stdout.split('\n')) {
        const [id, state] = line.trim().split(/\s+/);
        if (id && state && !ENDED.test(state)) live.add(id);
      }
      for (const [index, slice] of [...pending]) {
        if (live.has(slice.job)) continue;
        // It may have written its outcomes just before it left the queue.
        if (await collect(index)) continue;
        const state = await ctx.finalState(slice.job);
        // Not in squeue's answer, yet not ended by its own record: still queued or running.
        if (!ENDED.test(state)) continue;
        const reason = `Slurm array task ${slice.job} ended ${state} before answering`;
        if (slice.lost === 0) {
          const again = await submit(String(index));
          ctx.log?.(`slurm array task ${slice.job} ended ${state}: slice ${index} resubmitted as ${again}_${index}`);
          pending.set(index, { job: `${again}_${index}`, lost: 1, reason });
          continue;
        }
        const error = new HubError('SERVABLE_FAILED', `${reason}, and it was retried once already (first: ${slice.reason ?? 'unknown'})`);
        for (let i = index * size; i < Math.min(records.length, (index + 1) * size); i++) outcomes[i] = { error: { code: error.code, message: error.message } };
        pending.delete(index);
      }
    }
    return outcomes;
  } finally {
    const unfinished = [...submitted];
    for (const job of unfinished) ctx.jobs.delete(job);
    if (ctx.closed() || Array.from(outcomes).some((outcome) => outcome === undefined)) await run('scancel', unfinished).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
}
