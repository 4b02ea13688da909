/**
 * The folder the Slurm executor and its worker jobs share (the endpoint's folder, on the cluster's
 * shared file system, as login and compute nodes see alike): a task is a file in `queue/`; a worker
 * claims it by renaming it into `claimed/<job id>/` (atomic: exactly one worker wins), and answers
 * with a file in `results/`. A task left in the folder of a job that ended was lost with the job.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TaskError } from '../../schemas/endpoints.ts';
import type { TaskMessage, TaskOutcome } from './task-executor.ts';

export interface QueuedTask {
  task: TaskMessage;
  /** How many times a worker job ended under it. */
  lost: number;
  /** Why the last one did. */
  lost_reason?: string;
}

export type TaskResult = ({ ok: true } & TaskOutcome) | { ok: false; error: TaskError };

export class SlurmQueue {
  readonly queue: string;
  readonly claimed: string;
  readonly results: string;
  readonly logs: string;

  constructor(readonly root: string) {
    this.queue = path.join(root, 'queue');
    this.claimed = path.join(root, 'claimed');
    this.results = path.join(root, 'results');
    this.logs = path.join(root, 'logs');
  }

  async init(): Promise<void> {
    for (const dir of [this.queue, this.claimed, this.results, this.logs]) await fs.mkdir(dir, { recursive: true });
  }

  /** Write whole, then rename: a reader never sees half a file. */
  static async writeAtomic(file: string, value: unknown): Promise<void> {
    const temp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(temp, JSON.stringify(value));
    await fs.rename(temp, file);
  }

  enqueue(entry: QueuedTask): Promise<void> {
    return SlurmQueue.writeAtomic(path.join(this.queue, `${entry.task.task_id}.json`), entry);
  }

  async waiting(): Promise<string[]> {
    return (await fs.readdir(this.queue)).filter((name) => name.endsWith('.json')).sort();
  }

  /** Claim one queued task for a job; undefined when another worker took it first. */
  async claim(jobId: string, file: string): Promise<{ path: string; entry: QueuedTask } | undefined> {
    const target = path.join(this.claimed, jobId, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.rename(path.join(this.queue, file), target);
    } catch {
      return undefined;
    }
    return { path: target, entry: JSON.parse(await fs.readFile(target, 'utf8')) as QueuedTask };
  }

  answer(taskId: string, result: TaskResult): Promise<void> {
    return SlurmQueue.writeAtomic(path.join(this.results, `${taskId}.json`), result);
  }

  /** Results written since the last call (each read once, then removed). */
  async takeResults(): Promise<{ taskId: string; result: TaskResult }[]> {
    const taken: { taskId: string; result: TaskResult }[] = [];
    for (const name of await fs.readdir(this.results)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.results, name);
      const result = JSON.parse(await fs.readFile(file, 'utf8')) as TaskResult;
      await fs.rm(file, { force: true });
      taken.push({ taskId: name.slice(0, -'.json'.length), result });
    }
    return taken;
  }

  /** The tasks a job had claimed and not answered, removed from its folder. */
  async orphansOf(jobId: string): Promise<QueuedTask[]> {
    const dir = path.join(this.claimed, jobId);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const orphans: QueuedTask[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      orphans.push(JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as QueuedTask);
    }
    await fs.rm(dir, { recursive: true, force: true });
    return orphans;
  }
}
