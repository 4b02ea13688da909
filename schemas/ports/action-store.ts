/**
 * Where Action Provider actions live: their status, idempotency key (provider, creator,
 * request_id) and step log, so that an action survives a restart of the hub and, with a shared
 * adapter (PostgreSQL), is found from every replica.
 */
import type { ActionLogEntry, ActionRequest, ActionStatusValue } from '../actions.ts';
import type { Viewer } from './viewer.ts';

export interface ActionRecord {
  actionId: string;
  /** `inference` or `servables/{owner}/{name}`: an action is only found under its own provider. */
  provider: string;
  creator: string;
  requestId: string;
  requestHash: string;
  request: ActionRequest;
  /** The caller as identified at /run: a resumed action runs with the same rights. */
  viewer: Viewer;
  status: ActionStatusValue;
  displayStatus: string;
  details: Record<string, unknown>;
  startTime: string;
  completionTime: string | null;
  releaseAfterSeconds: number;
  /** ms since the epoch, from the request's `deadline`. */
  deadline: number | null;
  attempts: number;
}

export interface ActionLogPage {
  entries: ActionLogEntry[];
  /** The sequence number of the last entry returned (the next page's `after`). */
  last: number;
  more: boolean;
}

/** When a completed action may be released: ms since the epoch, or null while it runs. */
export const actionExpiresAt = (record: ActionRecord): number | null =>
  record.completionTime === null ? null : Date.parse(record.completionTime) + record.releaseAfterSeconds * 1000;

export interface ActionStore {
  /** A new action; CONFLICT when its (provider, creator, request_id) or id is taken. */
  insert(record: ActionRecord): Promise<void>;
  /** Writes the mutable part of an action: its status, display status, details, completion and attempts. */
  update(record: ActionRecord): Promise<void>;
  get(actionId: string): Promise<ActionRecord | undefined>;
  findByRequest(provider: string, creator: string, requestId: string): Promise<ActionRecord | undefined>;
  /** Oldest first. */
  listByStatus(statuses: readonly ActionStatusValue[], provider?: string): Promise<ActionRecord[]>;
  /** The action and its log; nothing when there is no such action. */
  delete(actionId: string): Promise<void>;
  /** Deletes every completed action whose release time is at or before `now` (ms); returns how many. */
  releaseExpired(now: number): Promise<number>;
  appendLog(actionId: string, entry: ActionLogEntry): Promise<void>;
  /** One page of an action's log, oldest first; `after` is the last sequence number already seen. */
  readLog(actionId: string, after: number, limit: number): Promise<ActionLogPage>;
  close(): Promise<void>;
}
