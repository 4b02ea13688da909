import type { TaskDocument } from '../../schemas/api.ts';
import type { HubParams } from '../http.ts';
import { watchTask, type WatchOptions } from './watch-task.ts';

/** Polls until the task SUCCEEDED or FAILED and returns it; throws MODELHUB_CLIENT_TIMEOUT past `timeoutMs`. */
export async function waitForTask(params: HubParams & WatchOptions & { taskId: string }): Promise<TaskDocument> {
  for await (const event of watchTask(params)) {
    if (event.kind === 'done') return event.task;
  }
  throw new Error(`task ${params.taskId} stopped reporting before it finished`);
}
