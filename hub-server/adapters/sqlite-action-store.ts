/**
 * Where actions live: one SQLite file (WAL) under the hub's data folder, so that an action's
 * status, its idempotency key and its log survive a restart of the hub.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ActionLogEntry, ActionRequest, ActionStatusValue } from '../../schemas/actions.ts';
import { HubError } from '../../schemas/errors.ts';
import { actionExpiresAt, type ActionLogPage, type ActionRecord, type ActionStore } from '../../schemas/ports/action-store.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';

export type { ActionRecord } from '../../schemas/ports/action-store.ts';

interface Row {
  action_id: string;
  provider: string;
  creator: string;
  request_id: string;
  request_hash: string;
  request_json: string;
  viewer_json: string;
  status: ActionStatusValue;
  display_status: string;
  details_json: string;
  start_time: string;
  completion_time: string | null;
  release_after_s: number;
  deadline_ms: number | null;
  attempts: number;
  expires_at_ms: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS actions (
  action_id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  creator TEXT NOT NULL,
  request_id TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  request_json TEXT NOT NULL,
  viewer_json TEXT NOT NULL,
  status TEXT NOT NULL,
  display_status TEXT NOT NULL,
  details_json TEXT NOT NULL,
  start_time TEXT NOT NULL,
  completion_time TEXT,
  release_after_s INTEGER NOT NULL,
  deadline_ms INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  expires_at_ms INTEGER,
  UNIQUE (provider, creator, request_id)
);
CREATE INDEX IF NOT EXISTS actions_status ON actions (status);
CREATE INDEX IF NOT EXISTS actions_expiry ON actions (expires_at_ms);
CREATE TABLE IF NOT EXISTS action_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  action_id TEXT NOT NULL,
  time TEXT NOT NULL,
  code TEXT NOT NULL,
  description TEXT NOT NULL,
  details_json TEXT
);
CREATE INDEX IF NOT EXISTS action_log_action ON action_log (action_id, seq);
`;

function fromRow(row: Row): ActionRecord {
  return {
    actionId: row.action_id,
    provider: row.provider,
    creator: row.creator,
    requestId: row.request_id,
    requestHash: row.request_hash,
    request: JSON.parse(row.request_json) as ActionRequest,
    viewer: JSON.parse(row.viewer_json) as Viewer,
    status: row.status,
    displayStatus: row.display_status,
    details: JSON.parse(row.details_json) as Record<string, unknown>,
    startTime: row.start_time,
    completionTime: row.completion_time,
    releaseAfterSeconds: row.release_after_s,
    deadline: row.deadline_ms,
    attempts: row.attempts,
  };
}

export class SqliteActionStore implements ActionStore {
  private readonly db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(path.join(dataDir, 'actions.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
  }

  async insert(record: ActionRecord): Promise<void> {
    try {
      this.insertRow(record);
    } catch (error) {
      if (String((error as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT')) {
        throw new HubError('CONFLICT', `action ${record.actionId} or its request_id exists already`, { cause: error });
      }
      throw error;
    }
  }

  private insertRow(record: ActionRecord): void {
    this.db
      .prepare(
        `INSERT INTO actions (action_id, provider, creator, request_id, request_hash, request_json,
          viewer_json, status, display_status, details_json, start_time, completion_time,
          release_after_s, deadline_ms, attempts, expires_at_ms)
         VALUES (@action_id, @provider, @creator, @request_id, @request_hash, @request_json,
          @viewer_json, @status, @display_status, @details_json, @start_time, @completion_time,
          @release_after_s, @deadline_ms, @attempts, @expires_at_ms)`,
      )
      .run({
        action_id: record.actionId,
        provider: record.provider,
        creator: record.creator,
        request_id: record.requestId,
        request_hash: record.requestHash,
        request_json: JSON.stringify(record.request),
        viewer_json: JSON.stringify(record.viewer),
        status: record.status,
        display_status: record.displayStatus,
        details_json: JSON.stringify(record.details),
        start_time: record.startTime,
        completion_time: record.completionTime,
        release_after_s: record.releaseAfterSeconds,
        deadline_ms: record.deadline,
        attempts: record.attempts,
        expires_at_ms: actionExpiresAt(record),
      });
  }

  /** Writes the mutable part of an action: its status, details and attempts. */
  async update(record: ActionRecord): Promise<void> {
    this.db
      .prepare(
        `UPDATE actions SET status = ?, display_status = ?, details_json = ?, completion_time = ?,
          attempts = ?, expires_at_ms = ? WHERE action_id = ?`,
      )
      .run(
        record.status,
        record.displayStatus,
        JSON.stringify(record.details),
        record.completionTime,
        record.attempts,
        actionExpiresAt(record),
        record.actionId,
      );
  }

  async get(actionId: string): Promise<ActionRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM actions WHERE action_id = ?').get(actionId) as
      | Row
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  async findByRequest(provider: string, creator: string, requestId: string): Promise<ActionRecord | undefined> {
    const row = this.db
      .prepare('SELECT * FROM actions WHERE provider = ? AND creator = ? AND request_id = ?')
      .get(provider, creator, requestId) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  async listByStatus(statuses: readonly ActionStatusValue[], provider?: string): Promise<ActionRecord[]> {
    const marks = statuses.map(() => '?').join(', ');
    const rows = (
      provider === undefined
        ? this.db.prepare(`SELECT * FROM actions WHERE status IN (${marks}) ORDER BY start_time`).all(...statuses)
        : this.db
            .prepare(`SELECT * FROM actions WHERE status IN (${marks}) AND provider = ? ORDER BY start_time`)
            .all(...statuses, provider)
    ) as Row[];
    return rows.map(fromRow);
  }

  async delete(actionId: string): Promise<void> {
    this.deleteRows(actionId);
  }

  private deleteRows(actionId: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM action_log WHERE action_id = ?').run(actionId);
      this.db.prepare('DELETE FROM actions WHERE action_id = ?').run(actionId);
    })();
  }

  /** Releases every completed action whose `release_after` has passed; returns how many. */
  async releaseExpired(now: number): Promise<number> {
    const expired = this.db
      .prepare('SELECT action_id FROM actions WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?')
      .all(now) as { action_id: string }[];
    for (const { action_id } of expired) this.deleteRows(action_id);
    return expired.length;
  }

  async appendLog(actionId: string, entry: ActionLogEntry): Promise<void> {
    this.db
      .prepare('INSERT INTO action_log (action_id, time, code, description, details_json) VALUES (?, ?, ?, ?, ?)')
      .run(
        actionId,
        entry.time,
        entry.code,
        entry.description,
        entry.details === undefined ? null : JSON.stringify(entry.details),
      );
  }

  /** One page of an action's log; `after` is the last sequence number already seen. */
  async readLog(actionId: string, after: number, limit: number): Promise<ActionLogPage> {
    const rows = this.db
      .prepare(
        'SELECT seq, time, code, description, details_json FROM action_log WHERE action_id = ? AND seq > ? ORDER BY seq LIMIT ?',
      )
      .all(actionId, after, limit + 1) as {
      seq: number;
      time: string;
      code: string;
      description: string;
      details_json: string | null;
    }[];
    const page = rows.slice(0, limit);
    return {
      entries: page.map((row) => ({
        time: row.time,
        code: row.code,
        description: row.description,
        ...(row.details_json === null ? {} : { details: JSON.parse(row.details_json) as Record<string, unknown> }),
      })),
      last: page.length > 0 ? page[page.length - 1].seq : after,
      more: rows.length > limit,
    };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
