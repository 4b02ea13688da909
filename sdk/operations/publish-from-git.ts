import type { PublishAccepted, TaskDocument } from '../../schemas/api.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import { apiUrl, hubJson, jsonBody, type HubParams } from '../http.ts';
import type { PublishEvent } from './publish-servable.ts';
import { watchTask, type WatchOptions } from './watch-task.ts';

export interface GitPublishParams extends HubParams, WatchOptions {
  /** The repository: an https:// (or http://) URL; file:// and paths where the hub allows them. */
  git: string;
  /** A tag, branch or commit hash. */
  ref: string;
  /** The metadata document; without it the hub reads the repository's modelhub.json. */
  metadata?: ServableMetadata | Record<string, unknown>;
  /** false: stop once the hub accepted the publish. */
  wait?: boolean;
}

/**
 * `git+https://host/repo.git@v1.0` (pip's VCS form) → URL and ref; the ref is what follows the
 * last `@` after the host part. undefined for anything else.
 */
export function parseGitSpec(spec: string): { git: string; ref: string } | undefined {
  if (!spec.startsWith('git+')) return undefined;
  const rest = spec.slice('git+'.length);
  const at = rest.lastIndexOf('@');
  const hostStart = rest.indexOf('://') >= 0 ? rest.indexOf('://') + 3 : 0;
  const slashAfterHost = rest.indexOf('/', hostStart);
  if (at <= 0 || (slashAfterHost >= 0 && at < slashAfterHost) || at === rest.length - 1) {
    throw new TypeError(`"${spec}" names no ref: use git+URL@tag-branch-or-commit`);
  }
  return { git: rest.slice(0, at), ref: rest.slice(at + 1) };
}

/**
 * Publish the files of one commit of a git repository: the hub fetches it (and refuses a URL, ref
 * or size it does not accept with a 400 before anything is published), then builds as for an
 * upload. Yields `accepted`, then each build `step` and `log` line and `done`, as publishing does.
 */
export async function* publishFromGitProgress(params: GitPublishParams): AsyncGenerator<PublishEvent> {
  const body = { source: { git: params.git, ref: params.ref }, ...(params.metadata ? { metadata: params.metadata } : {}) };
  const accepted = await hubJson<PublishAccepted>(params, apiUrl(params, '/servables'), { method: 'POST', ...jsonBody(body) });
  yield { kind: 'accepted', task_id: accepted.task_id, servable: accepted.servable, version: accepted.version };
  if (params.wait === false) return;
  yield* watchTask({ ...params, taskId: accepted.task_id });
}

/** Publish from git and wait for the build; the finished task (SUCCEEDED or FAILED). */
export async function publishFromGit(params: GitPublishParams): Promise<TaskDocument> {
  let last: TaskDocument | undefined;
  for await (const event of publishFromGitProgress({ ...params, wait: true })) {
    if (event.kind === 'done') last = event.task;
  }
  return last!;
}
