/**
 * The hub, as one object: each method is one operation of `./operations/` with the connection
 * filled in. Scripts that prefer functions can call the operations directly.
 */
import type { RunReply, TaskDocument, SearchReply } from '../schemas/api.ts';
import type { PublishedMetadata } from '../schemas/metadata.ts';
import type { HubParams } from './http.ts';
import type { ServableDescription } from './models/servable-description.ts';
import { citeServable, type CitationFormat } from './operations/cite-servable.ts';
import { citeCollection, createCollection, getCollection, searchCollections } from './operations/collections.ts';
import type { CollectionCreate, CollectionView } from '../schemas/collections.ts';
import { describeServable } from './operations/describe-servable.ts';
import { downloadServable, downloadServableProgress, type DownloadEvent } from './operations/download-servable.ts';
import { getTaskStatus } from './operations/get-task-status.ts';
import { getRunCrate } from './operations/get-run-crate.ts';
import { verifyServable } from './operations/verify-servable.ts';
import { createWebhook, deleteWebhook, listWebhooks, servableUsage, webhookDeliveries } from './operations/webhooks-usage.ts';
import type { CreateWebhookRequest, CreatedWebhook, Delivery, UsageReply, WebhookInfo } from '../schemas/webhooks.ts';
import type { CheckReply } from '../schemas/provenance.ts';
import { listServables, type ServableListItem } from './operations/list-servables.ts';
import { listVersions, type VersionEntry } from './operations/list-versions.ts';
import { publishServable, publishServableProgress, type PublishEvent } from './operations/publish-servable.ts';
import { publishFromGitProgress } from './operations/publish-from-git.ts';
import { resolveIdentifier, type ResolvedIdentifier } from './operations/resolve-identifier.ts';
import { runServable } from './operations/run-servable.ts';
import { searchServables } from './operations/search-servables.ts';
import { waitForTask } from './operations/wait-for-task.ts';
import { withdrawServable } from './operations/withdraw-servable.ts';
import type { WatchOptions } from './operations/watch-task.ts';
import type { SearchQueryBuilder } from './query-builder.ts';
import { resolveConnection } from './saved-login.ts';

export interface HubClientOptions {
  /** Defaults to MODELHUB_URL, then the saved login, then http://127.0.0.1:8700. */
  url?: string;
  /** Defaults to MODELHUB_TOKEN, then the saved login's token (for its URL only). */
  token?: string;
  fetch?: typeof fetch;
}

export interface RunOptions {
  version?: number;
  parameters?: Record<string, unknown>;
  method?: string;
  signal?: AbortSignal;
  /** Run on this compute endpoint (owner/name) instead of the hub. */
  endpoint?: string;
  /** Reply with a provenance record (docs/provenance.md). */
  provenance?: boolean;
}

export class HubClient {
  readonly url: string;
  private readonly params: HubParams;

  constructor(options: HubClientOptions = {}) {
    const { url, token } = resolveConnection(options);
    this.url = url;
    this.params = { hubUrl: url, ...(token ? { accessToken: token } : {}), ...(options.fetch ? { fetch: options.fetch } : {}) };
  }

  /** Publish and wait for the build; returns the finished task (check `status`, read `error`). */
  publishServable(model: ServableDescription, options: WatchOptions = {}): Promise<TaskDocument> {
    return publishServable({ ...this.params, ...options, model });
  }

  /** Publish, yielding upload progress, acceptance, build steps and log lines, and the final task. */
  /** Publish one commit of a git repository (a tag, branch or commit hash), yielding as publishing does. */
  publishFromGitProgress(
    git: string,
    ref: string,
    options: WatchOptions & { wait?: boolean; metadata?: Record<string, unknown> } = {},
  ): AsyncGenerator<PublishEvent> {
    return publishFromGitProgress({ ...this.params, ...options, git, ref });
  }

  publishServableProgress(model: ServableDescription, options: WatchOptions & { wait?: boolean } = {}): AsyncGenerator<PublishEvent> {
    return publishServableProgress({ ...this.params, ...options, model });
  }

  run(name: string, inputs: unknown, options?: RunOptions & { asynchronous?: false }): Promise<RunReply>;
  run(name: string, inputs: unknown, options: RunOptions & { asynchronous: true }): Promise<{ task_id: string }>;
  run(name: string, inputs: unknown, options: RunOptions & { asynchronous?: boolean } = {}): Promise<RunReply | { task_id: string }> {
    return runServable({ ...this.params, ...options, name, inputs });
  }

  getTaskStatus(taskId: string): Promise<TaskDocument> {
    return getTaskStatus({ ...this.params, taskId });
  }

  waitForTask(taskId: string, options: WatchOptions = {}): Promise<TaskDocument> {
    return waitForTask({ ...this.params, ...options, taskId });
  }

  /** The metadata of `owner/name` (latest) or `owner/name@version`. */
  describeServable(name: string, options: { version?: number } = {}): Promise<PublishedMetadata> {
    return describeServable({ ...this.params, ...options, name });
  }

  listVersions(name: string): Promise<VersionEntry[]> {
    return listVersions({ ...this.params, name });
  }

  /** Every visible servable, newest first, fetched page by page as you iterate. */
  listServables(options: { owner?: string; limit?: number; pageSize?: number } = {}): AsyncGenerator<ServableListItem> {
    return listServables({ ...this.params, ...options });
  }

  search(query: string | SearchQueryBuilder): Promise<SearchReply> {
    return searchServables({ ...this.params, query });
  }

  cite(name: string, format: CitationFormat = 'bibtex', options: { version?: number } = {}): Promise<string> {
    return citeServable({ ...this.params, ...options, name, format });
  }

  /** Create a citable collection `owner/name` of servable versions (docs/collections.md). */
  createCollection(name: string, collection: CollectionCreate): Promise<CollectionView> {
    return createCollection({ ...this.params, name, collection });
  }

  collection(name: string): Promise<CollectionView> {
    return getCollection({ ...this.params, name });
  }

  /** Collections whose title, description, creators or name hold every word of `q`. */
  searchCollections(options: { q?: string; owner?: string; containing?: string; limit?: number; offset?: number } = {}): Promise<{ total: number; collections: CollectionView[] }> {
    return searchCollections({ ...this.params, ...options });
  }

  citeCollection(name: string, format: CitationFormat = 'bibtex'): Promise<string> {
    return citeCollection({ ...this.params, name, format });
  }

  /** Download a version's archive (files, metadata, citation, a local server) to `destination`. */
  download(name: string, options: { version?: number; destination?: string } = {}): Promise<{ path: string; bytes: number; version?: number }> {
    return downloadServable({ ...this.params, ...options, name });
  }

  /** The same, yielding byte progress for a bar. */
  downloadProgress(name: string, options: { version?: number; destination?: string } = {}): AsyncGenerator<DownloadEvent> {
    return downloadServableProgress({ ...this.params, ...options, name });
  }

  /** A stored run's RO-Crate, unpacked into `directory`; returns the files written. */
  runCrate(runId: string, directory: string): Promise<string[]> {
    return getRunCrate({ ...this.params, runId, directory });
  }

  /** Re-run a version's examples now: reproducible, drifted or fails (docs/provenance.md). */
  verify(name: string, options: { version?: number } = {}): Promise<CheckReply> {
    return verifyServable({ ...this.params, ...options, name });
  }

  /** Runs, errors, mean latency and distinct callers by version and day (your servables only; docs/usage.md). */
  usage(name: string, options: { version?: number; days?: number } = {}): Promise<UsageReply> {
    return servableUsage({ ...this.params, ...options, name });
  }

  /** Register a webhook for your servables' events; the reply's `secret` is shown only now (docs/webhooks.md). */
  createWebhook(webhook: CreateWebhookRequest): Promise<CreatedWebhook> {
    return createWebhook({ ...this.params, webhook });
  }

  listWebhooks(options: { owner?: string } = {}): Promise<WebhookInfo[]> {
    return listWebhooks({ ...this.params, ...options });
  }

  deleteWebhook(id: string): Promise<void> {
    return deleteWebhook({ ...this.params, id });
  }

  /** A webhook's delivery log, newest first. */
  webhookDeliveries(id: string, options: { limit?: number } = {}): Promise<Delivery[]> {
    return webhookDeliveries({ ...this.params, ...options, id });
  }

  withdraw(name: string, options: { version?: number; reason?: string } = {}): Promise<Record<string, unknown>> {
    return withdrawServable({ ...this.params, ...options, name });
  }

  resolveIdentifier(identifier: string): Promise<ResolvedIdentifier> {
    return resolveIdentifier({ ...this.params, identifier });
  }
}
