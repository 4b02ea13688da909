/**
 * The set-up the compute endpoint, Slurm endpoint and batch suites share: a JSON call with a user
 * token, waiting for a task with it, user tokens made straight in the hub's token store, and a
 * publish that waits for its task to succeed.
 */
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { publishRaw, type PublishFile } from './hub-http.ts';
import type { TestHub } from './test-hub.ts';

export async function call(url: string, method: string, route: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed };
}

/** The task once SUCCEEDED or FAILED (read with the token of whoever started it). */
export async function waitTask(url: string, taskId: string, token: string, timeoutMs = 240_000): Promise<any> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
    const reply = await call(url, 'GET', `/api/v1/tasks/${taskId}`, token).catch(() => undefined);
    if (reply?.body?.status === 'SUCCEEDED' || reply?.body?.status === 'FAILED') return reply.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`task ${taskId} did not finish in ${timeoutMs} ms`);
}

/** One run+publish token per user (`user: groups`), made in the hub's own token store. */
export async function userTokens(hub: TestHub, users: Record<string, string[]>): Promise<Record<string, string>> {
  const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
  const tokens: Record<string, string> = {};
  try {
    for (const [user, groups] of Object.entries(users)) {
      tokens[user] = (await store.create({ user, scopes: ['run', 'publish'], groups, created_by: 'local' })).token;
    }
  } finally {
    await store.close();
  }
  return tokens;
}

/** Publish with a user token and wait until the publish task SUCCEEDED (throws otherwise). */
export async function publishAs(hub: TestHub, token: string, metadata: unknown, files: PublishFile[]): Promise<void> {
  const accepted = await publishRaw(hub.url, metadata, files, { authorization: `Bearer ${token}` });
  if (accepted.status !== 202) throw new Error(`publish answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  const task = await waitTask(hub.url, accepted.body.task_id, token);
  if (task.status !== 'SUCCEEDED') throw new Error(`publish failed: ${JSON.stringify(task)}`);
}

/** `POST .../batch` with the data set as the `data` file part (none when `file` is empty: an `s3` field names it). */
export async function submitBatch(url: string, token: string, servable: string, file: string, bytes: Buffer | string, fields: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (file !== '') form.append('data', new Blob([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)]), file);
  const response = await fetch(`${url}/api/v1/servables/${servable}/batch`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as any };
}

/** A succeeded batch's results, one parsed line per record. */
export async function batchResults(url: string, token: string, taskId: string): Promise<any[]> {
  const text = await (await fetch(`${url}/api/v1/tasks/${taskId}/results`, { headers: { authorization: `Bearer ${token}` } })).text();
  return text.trim().split('\n').map((line) => JSON.parse(line) as unknown);
}
