/**
 * The Slurm executor: runs go to worker jobs submitted with `sbatch` (partition, account, time
 * limit, nodes, cpus, gpus and a job script prefix from the endpoint's settings), which stay warm
 * until idle for `idleSeconds`. Jobs are followed with `squeue`; once one has left the queue its
 * final state comes from `sacct` (or `scontrol show job` where the cluster keeps no accounting).
 * The tasks a job held when Slurm killed it, cancelled it or timed it out go back to the queue
 * once; a second loss fails them with the reason. sbatch's own refusal fails the waiting runs
 * with sbatch's error.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HubError } from '../../schemas/errors.ts';
import { errorFromAgent } from '../use-cases/endpoint-dispatcher.ts';
import { SlurmQueue } from './slurm-queue.ts';
import type { TaskExecutor, TaskMessage, TaskOutcome } from './task-executor.ts';
import type { ChunkOutcome } from '../../schemas/endpoints.ts';
import { runChunkAsArray } from './slurm-array.ts';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The checkout, where `tsx` resolves from when a worker job starts. */
const ROOT = path.resolve(HERE, '../..');
/**
 * How a worker job starts Node: compiled (dist/, `npm run build`) the JavaScript beside this file,
 * else the TypeScript source through tsx (the checkout, tests, `bin/modelhub.js`).
 */
const entry = (name: string) =>
  existsSync(path.join(HERE, `${name}.js`)) ? JSON.stringify(path.join(HERE, `${name}.js`)) : `--import tsx ${JSON.stringify(path.join(HERE, `${name}.ts`))}`;
const WORKER_ENTRY = entry('slurm-worker');
const ARRAY_TASK_ENTRY = entry('slurm-array-task');

export interface SlurmSettings {
  partition?: string;
  account?: string;
  /** Slurm time limit of each worker job, e.g. `01:00:00`. */
  time?: string;
  nodes?: number;
  cpus?: number;
  /** `--gpus`, e.g. `1` or `a100:2`. */
  gpus?: string;
  /** Lines at the top of the job script (after the shebang): `module load ...`, `#SBATCH ...`. */
  prefix?: string;
  /** Worker jobs at most (default 2). */
  maxWorkers?: number;
  /** A worker with nothing to do this long ends (default 60 s). */
  idleSeconds?: number;
  /** Runs a worker does at once (default 8). */
  concurrency?: number;
}

export interface SlurmExecutorOptions {
  stateDir: string;
  settings: SlurmSettings;
  log?: (line: string) => void;
  /** How often jobs and results are looked at (default 250 ms). */
  pollMs?: number;
}

interface Waiter {
  resolve(outcome: TaskOutcome): void;
  reject(error: HubError): void;
}

/** Job states in which a job is done (from squeue's and sacct's documentation). */
const ENDED = /^(COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|REVOKED)/;

export class SlurmExecutor implements TaskExecutor {
  readonly kind = 'slurm' as const;
  private readonly queue: SlurmQueue;
  private readonly waiters = new Map<string, Waiter>();
  /** Worker jobs submitted and not yet seen ended. */
  private readonly jobs = new Set<string>();
  /** Batch chunks' job arrays still running. */
  private readonly arrays = new Set<string>();
  private readonly ready: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private lastError: string | undefined;
  private closed = false;

  constructor(private readonly options: SlurmExecutorOptions) {
    this.queue = new SlurmQueue(path.join(options.stateDir, 'slurm'));
    this.ready = this.queue.init();
    this.timer = setInterval(() => void this.tick(), options.pollMs ?? 250);
  }

  private get settings(): Required<Pick<SlurmSettings, 'maxWorkers' | 'idleSeconds' | 'concurrency'>> & SlurmSettings {
    return { maxWorkers: 2, idleSeconds: 60, concurrency: 8, ...this.options.settings };
  }

  resources(): Record<string, unknown> {
    return { slurm: this.options.settings, workers: [...this.jobs], arrays: [...this.arrays], ...(this.lastError ? { last_error: this.lastError } : {}) };
  }

  async run(task: TaskMessage): Promise<TaskOutcome> {
    await this.ready;
    const outcome = new Promise<TaskOutcome>((resolve, reject) => this.waiters.set(task.task_id, { resolve, reject }));
    await this.queue.enqueue({ task, lost: 0 });
    void this.tick();
    return outcome;
  }

  /** A batch chunk: one job array, its records split across up to maxWorkers array tasks. */
  async runChunk(task: TaskMessage): Promise<ChunkOutcome[]> {
    await this.ready;
    const s = this.settings;
    return runChunkAsArray(
      {
        root: this.queue.root,
        slices: s.maxWorkers,
        scriptHead: this.scriptHead(),
        command: `${JSON.stringify(process.execPath)} ${ARRAY_TASK_ENTRY}`,
        concurrency: s.concurrency,
        resourceArgs: this.resourceArgs(),
        pollMs: this.options.pollMs ?? 250,
        jobs: this.arrays,
        closed: () => this.closed,
        finalState: (job) => this.finalState(job),
        onSbatchError: (stderr) => (this.lastError = stderr),
        ...(this.options.log ? { log: this.options.log } : {}),
      },
      task,
    );
  }

  /** One look at results and jobs; never two at once. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      await this.ready;
      for (const { taskId, result } of await this.queue.takeResults()) {
        const waiter = this.waiters.get(taskId);
        this.waiters.delete(taskId);
        if (!waiter) continue;
        if (result.ok) waiter.resolve({ output: result.output, inference_ms: result.inference_ms });
        else waiter.reject(errorFromAgent(result.error));
      }
      await this.followJobs();
      await this.scale();
    } catch (error) {
      this.options.log?.(`slurm executor: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private async followJobs(): Promise<void> {
    if (this.jobs.size === 0) return;
    // squeue failing (slurmctld busy, a timeout) tells nothing: the next look decides.
    const listed = await run('squeue', ['-h', '-o', '%i %T', '-j', [...this.jobs].join(',')]).catch((error: { stdout?: string; stderr?: string }) =>
      /Invalid job id/i.test(error.stderr ?? '') ? { stdout: error.stdout ?? '' } : undefined,
    );
    if (!listed) return;
    const { stdout } = listed;
    const live = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const [id, state] = line.trim().split(/\s+/);
      if (id && state) live.set(id, state);
    }
    for (const job of [...this.jobs]) {
      const state = live.get(job);
      if (state && !ENDED.test(state)) continue;
      this.jobs.delete(job);
      const ended = await this.finalState(job);
      await this.recover(job, ended);
    }
  }

  /** A job's final state and reason: sacct where accounting is kept, else scontrol. */
  private async finalState(job: string): Promise<string> {
    try {
      const { stdout } = await run('sacct', ['-n', '-P', '-X', '-j', job, '-o', 'State,Reason']);
      const line = stdout.trim().split('\n')[0];
      if (line) return line.replace('|', ' ');
    } catch {
      // No accounting storage on this cluster: scontrol still knows recently ended jobs.
    }
    try {
      const { stdout } = await run('scontrol', ['show', 'job', '-o', job]);
      const state = /JobState=(\S+)/.exec(stdout)?.[1] ?? 'UNKNOWN';
      const reason = /Reason=(\S+)/.exec(stdout)?.[1];
      return reason && reason !== 'None' ? `${state} (${reason})` : state;
    } catch {
      return 'ENDED (state unknown)';
    }
  }

  /** What a job that ended held goes back to the queue once; a second loss fails it. */
  private async recover(job: string, state: string): Promise<void> {
    const orphans = await this.queue.orphansOf(job);
    if (orphans.length > 0) this.options.log?.(`slurm job ${job} ended ${state} holding ${orphans.length} task(s)`);
    for (const orphan of orphans) {
      const reason = `Slurm worker job ${job} ended ${state} while running it`;
      if (orphan.lost === 0) {
        await this.queue.enqueue({ task: orphan.task, lost: 1, lost_reason: reason });
        continue;
      }
      const waiter = this.waiters.get(orphan.task.task_id);
      this.waiters.delete(orphan.task.task_id);
      waiter?.reject(new HubError('SERVABLE_FAILED', `${reason}, and it was retried once already (first: ${orphan.lost_reason ?? 'unknown'})`));
    }
  }

  /** Enough warm workers for the queue, up to maxWorkers: one more per look. */
  private async scale(): Promise<void> {
    const waiting = (await this.queue.waiting()).length;
    if (waiting === 0 || this.jobs.size >= this.settings.maxWorkers) return;
    const wanted = Math.min(this.settings.maxWorkers, Math.ceil(waiting / this.settings.concurrency));
    if (this.jobs.size >= wanted) return;
    try {
      const job = await this.submit();
      this.jobs.add(job);
      this.lastError = undefined;
      this.options.log?.(`submitted slurm worker job ${job}`);
    } catch (error) {
      const stderr = ((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
      this.lastError = stderr;
      this.options.log?.(`sbatch refused the worker job: ${stderr}`);
      await this.failWaiting(new HubError('SERVABLE_FAILED', `the endpoint's Slurm refused its worker job: ${stderr}`, { details: { sbatch: stderr } }));
    }
  }

  private async failWaiting(error: HubError): Promise<void> {
    for (const file of await this.queue.waiting()) {
      await fs.rm(path.join(this.queue.queue, file), { force: true });
      const taskId = file.slice(0, -'.json'.length);
      const waiter = this.waiters.get(taskId);
      this.waiters.delete(taskId);
      waiter?.reject(error);
    }
  }

  /** The job script's lines before its command: the endpoint's prefix, then the checkout. */
  private scriptHead(): string[] {
    return ['#!/bin/bash', ...(this.settings.prefix ? [this.settings.prefix] : []), `cd ${JSON.stringify(ROOT)}`];
  }

  /** sbatch's options from the endpoint's settings: worker jobs and job arrays get the same. */
  private resourceArgs(): string[] {
    const s = this.settings;
    return [
      ...(s.partition ? [`--partition=${s.partition}`] : []),
      ...(s.account ? [`--account=${s.account}`] : []),
      ...(s.time ? [`--time=${s.time}`] : []),
      ...(s.nodes ? [`--nodes=${s.nodes}`] : []),
      ...(s.cpus ? [`--cpus-per-task=${s.cpus}`] : []),
      ...(s.gpus ? [`--gpus=${s.gpus}`] : []),
    ];
  }

  private async submit(): Promise<string> {
    const s = this.settings;
    const script = [...this.scriptHead(), `exec ${JSON.stringify(process.execPath)} ${WORKER_ENTRY} ${JSON.stringify(this.queue.root)} ${s.idleSeconds} ${s.concurrency}`, ''].join('\n');
    const scriptFile = path.join(this.queue.root, 'worker.sh');
    await fs.writeFile(scriptFile, script, { mode: 0o755 });
    const args = ['--parsable', `--job-name=modelhub-worker`, `--output=${path.join(this.queue.logs, '%j.out')}`, ...this.resourceArgs(), scriptFile];
    const { stdout } = await run('sbatch', args);
    const job = stdout.trim().split(';')[0];
    if (!job || !/^\d+$/.test(job)) throw Object.assign(new Error(`sbatch printed no job id: ${stdout}`), { stderr: stdout });
    return job;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const jobs = [...this.jobs, ...this.arrays];
    if (jobs.length > 0) await run('scancel', jobs).catch(() => undefined);
    for (const waiter of this.waiters.values()) waiter.reject(new HubError('NOT_READY', 'the endpoint is stopping'));
    this.waiters.clear();
  }
}
