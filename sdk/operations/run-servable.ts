import type { RunReply } from '../../schemas/api.ts';
import { apiUrl, hubJson, jsonBody, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

export interface RunParams extends HubParams {
  /** `owner/name` or `owner/name@version`. */
  name: string;
  inputs: unknown;
  version?: number;
  parameters?: Record<string, unknown>;
  /** Method other than `run`, for servables that declare several. */
  method?: string;
  /** Run on this compute endpoint (owner/name) instead of the hub. */
  endpoint?: string;
  /** Reply with a provenance record (`reply.provenance`, its `run_id` names the stored run). */
  provenance?: boolean;
}

/** `POST .../run` and wait for the output. */
export function runServable(params: RunParams & { asynchronous?: false }): Promise<RunReply>;
/** `POST .../run` with `asynchronous: true`: returns the task to poll with `getTaskStatus`. */
export function runServable(params: RunParams & { asynchronous: true }): Promise<{ task_id: string }>;
export function runServable(params: RunParams & { asynchronous?: boolean }): Promise<RunReply | { task_id: string }>;
export function runServable(params: RunParams & { asynchronous?: boolean }): Promise<RunReply | { task_id: string }> {
  const ref = parseServableName(params.name, params.version);
  return hubJson(params, apiUrl(params, `${servablePath(ref)}/run`), {
    method: 'POST',
    ...jsonBody({
      inputs: params.inputs,
      ...(params.parameters ? { parameters: params.parameters } : {}),
      ...(params.method ? { method: params.method } : {}),
      ...(params.endpoint ? { endpoint: params.endpoint } : {}),
      ...(params.asynchronous ? { asynchronous: true } : {}),
      ...(params.provenance ? { provenance: true } : {}),
    }),
  });
}
