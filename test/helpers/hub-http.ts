/**
 * Small HTTP helpers for end-to-end tests: raw multipart publishes (so tests exercise the wire
 * format itself, not only the SDK) and task polling.
 */
import fs from 'node:fs';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import type { TaskDocument } from '../../schemas/api.ts';

export interface PublishFile {
  name: string;
  bytes?: Uint8Array;
  path?: string;
}

export async function publishRaw(url: string, metadata: unknown, files: PublishFile[], headers: Record<string, string> = {}) {
  const form = new FormData();
  form.append('metadata', typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
  for (const file of files) {
    const blob = file.path ? await fs.openAsBlob(file.path) : new Blob([new Uint8Array(file.bytes!)]);
    form.append('file', blob, file.name);
  }
  const response = await fetch(`${url}/api/v1/servables`, { method: 'POST', body: form, headers });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

export async function waitForTask(url: string, taskId: string, timeoutMs = 120_000): Promise<TaskDocument> {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`${url}/api/v1/tasks/${taskId}`);
    const task = (await response.json()) as TaskDocument;
    if (task.status === 'SUCCEEDED' || task.status === 'FAILED') return task;
    if (Date.now() - started > timeoutMs) throw new Error(`task ${taskId} still ${task.status}: ${JSON.stringify(task)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function publishAndWait(url: string, metadata: unknown, files: PublishFile[], headers: Record<string, string> = {}) {
  const accepted = await publishRaw(url, metadata, files, headers);
  if (accepted.status !== 202) throw new Error(`publish answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  return { accepted: accepted.body, task: await waitForTask(url, accepted.body.task_id) };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const text = await response.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as any, headers: response.headers };
}

/** A minimal valid metadata document for an ONNX file; the hub fills the servable block from the file. */
export function onnxMetadata(owner: string, name: string, extra: Partial<ServableMetadata['hub']> = {}, method?: ServableMetadata['servable']['methods']['run']): ServableMetadata {
  return {
    datacite: {
      creators: [{ name: 'Curie, Marie', affiliation: ['Institut du Radium'], orcid: '0000-0002-1825-0097' }],
      titles: [{ title: `Test model ${name}` }],
      descriptions: [{ description: 'A model made by the test suite', descriptionType: 'Abstract' }],
    },
    hub: { owner, name, domains: ['testing'], ...extra },
    servable: {
      type: 'onnx',
      methods: { run: method ?? { input: { type: 'any' }, output: { type: 'any' } } },
    },
  };
}
