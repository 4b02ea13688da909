/**
 * The registry of servables, versions, publish/run tasks and identifiers: the hub's system of
 * record. Every write is a transaction; a version is visible only once committed.
 */
import type { PublishedMetadata } from '../metadata.ts';
import type { ServableListItem, TaskDocument } from '../api.ts';
import type { Viewer } from './viewer.ts';

export type VersionState = 'pending' | 'published' | 'failed' | 'withdrawn';

export interface VersionRecord {
  owner: string;
  name: string;
  version: number;
  state: VersionState;
  /** Present once published (and kept after withdrawal for the tombstone). */
  document?: PublishedMetadata;
  created_at: string;
  published_at?: string;
  withdrawn_at?: string;
  withdrawn_reason?: string;
}

/** A listing entry with the latest version's document, for the route to filter and strip. */
export type ServableSummary = ServableListItem & { document: PublishedMetadata };

export interface ListServablesQuery {
  owner?: string;
  limit: number;
  cursor?: string;
  /**
   * When given, versions this viewer may not see are left out before each servable's latest is
   * chosen: an item is the newest published version the viewer may see (a private version 2 never
   * hides a public version 1), and servables with none are left out (so pages stay full).
   */
  viewer?: Viewer;
}

export interface IdentifierRecord {
  identifier: string;
  owner: string;
  name: string;
  /** undefined for a concept identifier that names every version. */
  version?: number;
  /** local: resolvable here; draft/findable/registered/hidden as DataCite says; pending: minting to be retried. */
  state: string;
  created_at: string;
  /** Why the last attempt to register it remotely failed (kept while `pending`). */
  last_error?: string;
  /** When the state last changed. */
  updated_at?: string;
}

export interface ListIdentifiersQuery {
  owner?: string;
  name?: string;
  state?: string;
  limit?: number;
}

/** What `settleInterruptedTasks` did. */
export interface InterruptedTasks {
  /** How many tasks it failed. */
  failed: number;
  /** Publish tasks whose version is in the registry (still RUNNING): the caller completes them. */
  committed: TaskDocument[];
}

export type TaskPatch = Partial<Omit<TaskDocument, 'task_id' | 'kind' | 'created_at'>>;

export interface Registry {
  /** Atomically allocate the next version number of owner/name, in state `pending`. */
  reserveVersion(owner: string, name: string): Promise<number>;
  /** Make a pending version visible with its complete document. */
  commitVersion(document: PublishedMetadata): Promise<void>;
  /** Mark a pending version failed: it never becomes visible. */
  failVersion(owner: string, name: string, version: number): Promise<void>;
  getVersion(owner: string, name: string, version?: number): Promise<VersionRecord | undefined>;
  /** Published (and withdrawn, for tombstones) versions, newest first. */
  listVersions(owner: string, name: string): Promise<VersionRecord[]>;
  listServables(query: ListServablesQuery): Promise<{ items: ServableSummary[]; next_cursor: string | null }>;
  /** Every published version's document (not withdrawn ones), for reindexing. */
  allPublished(): AsyncIterable<PublishedMetadata>;
  withdraw(owner: string, name: string, version: number | undefined, reason: string): Promise<number[]>;
  /**
   * Replace the stored document of a published or withdrawn version (visibility and sharing change
   * without a new version). VERSION_NOT_FOUND when there is no such version with a document.
   */
  updateDocument(document: PublishedMetadata): Promise<void>;

  createTask(task: TaskDocument): Promise<void>;
  updateTask(taskId: string, patch: TaskPatch): Promise<void>;
  appendTaskLog(taskId: string, line: string): Promise<void>;
  getTask(taskId: string): Promise<TaskDocument | undefined>;
  /**
   * Called at start-up, for the tasks a stop left PENDING/RUNNING. A publish whose version was
   * committed before the stop did happen: its task is left for the hub to finish (`committed`),
   * so that task and registry agree. Every other task becomes FAILED, and its pending version failed.
   */
  settleInterruptedTasks(reason: string): Promise<InterruptedTasks>;
  /** The sha256 of every file a version's document names (published or withdrawn): blobs in use. */
  referencedBlobs(): Promise<Set<string>>;
  /**
   * Shared registries (PostgreSQL) record the blobs a publish task has stored before its version
   * names them, so that a sweep on any replica keeps them while the task is PENDING or RUNNING.
   * A registry of one hub need not: that hub's publisher knows its own.
   */
  recordTaskBlobs?(taskId: string, sha256s: readonly string[]): Promise<void>;
  /** The blobs recorded by publish tasks still PENDING or RUNNING, on any replica. */
  blobsOfRunningTasks?(): Promise<Set<string>>;

  putIdentifier(record: IdentifierRecord): Promise<void>;
  getIdentifier(identifier: string): Promise<IdentifierRecord | undefined>;
  /** Identifiers of one servable, or in one state (the `pending` ones are retried), oldest first. */
  listIdentifiers(query: ListIdentifiersQuery): Promise<IdentifierRecord[]>;
  close(): Promise<void>;
}
