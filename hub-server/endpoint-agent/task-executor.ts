/**
 * What an endpoint agent does with a run the hub sends it. The local executor runs it in the
 * agent's own process with the hub's runtimes; the Slurm executor hands it to worker jobs.
 */
import type { HubMessage } from '../../schemas/endpoints.ts';

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
  close(): Promise<void>;
}
