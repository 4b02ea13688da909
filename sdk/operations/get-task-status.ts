import type { TaskDocument } from '../../schemas/api.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';

/** `GET /tasks/{task_id}`: a publish or asynchronous run, with its steps and log lines. */
export function getTaskStatus(params: HubParams & { taskId: string }): Promise<TaskDocument> {
  return hubJson<TaskDocument>(params, apiUrl(params, `/tasks/${encodeURIComponent(params.taskId)}`));
}
