/**
 * What an endpoint agent does with a run the hub sends it. The local executor runs it in the
 * agent's own process with the hub's runtimes; the Slurm executor hands it to worker jobs.
 */
import type { ChunkOutcome, HubMessage } from '../../schemas/endpoints.ts';
import { toHubError } from '../../schemas/errors.ts';

export type TaskMessage = Extract<HubMessage, { type: 'task' }>;

export interface TaskOutcome {
  output: unknown;
  inference_ms: number;
}

export interface TaskExecutor {
  readonly kind: 'local' | 'slurm';
  /** What the endpoint reports about itself (cpus, partition, workers ...). */
  resources(): Record<string, unknown>;
  /** Runs the task; its files are in the endpoint's blob cache already. Throws a HubError on failure. */
  run(task: TaskMessage): Promise<TaskOutcome>;
  /** A batch chunk (`task.chunk`), when the executor has its own way (Slurm: a job array); else runChunk below. */
  runChunk?(task: TaskMessage): Promise<ChunkOutcome[]>;
  close(): Promise<void>;
}

/**
 * A chunk's records run as separate runs, `concurrency` at once (so the dynamic batcher batches
 * them); each record that fails, fails alone. What the local executor does with a chunk, and what
 * each Slurm array task does with its slice.
 */
export async function runRecords(run: (task: TaskMessage) => Promise<TaskOutcome>, task: TaskMessage, records: unknown[], concurrency = 32): Promise<ChunkOutcome[]> {
  const outcomes: ChunkOutcome[] = new Array(records.length);
  let next = 0;
  const worker = async () => {
    while (next < records.length) {
      const index = next++;
      try {
        const { output } = await run({ ...task, chunk: undefined, task_id: `${task.task_id}-${index}`, inputs: records[index] });
        outcomes[index] = { output };
      } catch (error) {
        const hubError = toHubError(error, 'SERVABLE_FAILED');
        outcomes[index] = { error: { code: hubError.code, message: hubError.message, ...(hubError.details === undefined ? {} : { details: hubError.details }) } };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, records.length)) }, worker));
  return outcomes;
}
