import type { TaskDocument, TaskStatus } from '../../schemas/api.ts';
import { CLIENT_ERROR_CODES, HubApiError } from '../errors.ts';
import { apiUrl, type HubParams } from '../http.ts';
import { sleep } from '../sleep.ts';
import { getTaskStatus } from './get-task-status.ts';

export type TaskEvent =
  | { kind: 'step'; name: string; status: TaskStatus; message?: string }
  | { kind: 'log'; line: string }
  | { kind: 'done'; task: TaskDocument };

export interface WatchOptions {
  /** Between polls; 500 ms by default. */
  intervalMs?: number;
  /** Give up (MODELHUB_CLIENT_TIMEOUT) after this long; no limit by default. */
  timeoutMs?: number;
}

export const isFinished = (task: TaskDocument): boolean => task.status === 'SUCCEEDED' || task.status === 'FAILED';

/**
 * Polls a task and yields what changed: each step as it starts and ends, each new log line, and
 * finally the finished task. A FAILED task ends the stream normally; the caller reads its `error`.
 */
export async function* watchTask(params: HubParams & WatchOptions & { taskId: string }): AsyncGenerator<TaskEvent> {
  const interval = params.intervalMs ?? 500;
  const deadline = params.timeoutMs === undefined ? Infinity : Date.now() + params.timeoutMs;
  const stepStatus = new Map<string, string>();
  let logLines = 0;
  for (;;) {
    const task = await getTaskStatus(params);
    for (const step of task.steps ?? []) {
      const seen = `${step.status}\u0000${step.message ?? ''}`;
      if (stepStatus.get(step.name) !== seen) {
        stepStatus.set(step.name, seen);
        yield { kind: 'step', name: step.name, status: step.status, ...(step.message ? { message: step.message } : {}) };
      }
    }
    const log = task.log ?? [];
    for (; logLines < log.length; logLines++) yield { kind: 'log', line: log[logLines]! };
    if (isFinished(task)) {
      yield { kind: 'done', task };
      return;
    }
    if (Date.now() + interval > deadline) {
      throw new HubApiError({
        status: 0,
        code: CLIENT_ERROR_CODES.clientTimeout,
        message: `Task ${params.taskId} is still ${task.status} after ${params.timeoutMs} ms`,
        url: apiUrl(params, `/tasks/${encodeURIComponent(params.taskId)}`),
        details: { task },
      });
    }
    await sleep(interval, params.signal);
  }
}
