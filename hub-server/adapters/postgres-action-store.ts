/**
 * Action Provider actions in PostgreSQL: an action started through one replica is monitored,
 * cancelled and released through any other, and its request_id stays idempotent across replicas
 * (a unique key on provider, creator and request_id).
 */
import type { ActionLogEntry, ActionRequest, ActionStatusValue } from '../../schemas/actions.ts';
import { HubError } from '../../schemas/errors.ts';
import { actionExpiresAt, type ActionLogPage, type ActionRecord, type ActionStore } from '../../schemas/ports/action-store.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { PostgresDatabase } from './postgres-database.ts';

interface Row {
  action_id: string;
  provider: string;
  creator: string;
  request_id: string;
  request_hash: string;
  request: ActionRequest;
  viewer: Viewer;
  status: ActionStatusValue;
  display_status: string;
  details: Record<string, unknown>;
  start_time: string;
  completion_time: string | null;
  release_after_s: number;
  deadline_ms: string | null;
  attempts: number;
}

const fromRow = (row: Row): ActionRecord => ({
  actionId: row.action_id,
  provider: row.provider,
  creator: row.creator,
  requestId: row.request_id,
  requestHash: row.request_hash,
  request: row.request,
  viewer: row.viewer,
  status: row.status,
  displayStatus: row.display_status,
  details: row.details,
  startTime: row.start_time,
  completionTime: row.completion_time,
  releaseAfterSeconds: row.release_after_s,
  deadline: row.deadline_ms === null ? null : Number(row.deadline_ms),
  attempts: row.attempts,
});

export class PostgresActionStore implements ActionStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresActionStore> {
    await db.migrate();
    return new PostgresActionStore(db.share());
  }

  async insert(record: ActionRecord): Promise<void> {
    try {
      await this.db.query(
        `INSERT INTO actions (action_id, provider, creator, request_id, request_hash, request, viewer, status, display_status,
           details, start_time, completion_time, release_after_s, deadline_ms, attempts, expires_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        [
          record.actionId,
          record.provider,
          record.creator,
          record.requestId,
          record.requestHash,
          JSON.stringify(record.request),
          JSON.stringify(record.viewer),
          record.status,
          record.displayStatus,
          JSON.stringify(record.details),
          record.startTime,
          record.completionTime,
          record.releaseAfterSeconds,
          record.deadline,
          record.attempts,
          actionExpiresAt(record),
        ],
        'store an action',
      );
    } catch (error) {
      if ((error as { code?: unknown }).code === '23505') {
        throw new HubError('CONFLICT', `action ${record.actionId} or its request_id exists already`, { cause: error });
      }
      throw error;
    }
  }

  async update(record: ActionRecord): Promise<void> {
    await this.db.query(
      `UPDATE actions SET status = $1, display_status = $2, details = $3, completion_time = $4, attempts = $5, expires_at_ms = $6
       WHERE action_id = $7`,
      [record.status, record.displayStatus, JSON.stringify(record.details), record.completionTime, record.attempts, actionExpiresAt(record), record.actionId],
      'update an action',
    );
  }

  async get(actionId: string): Promise<ActionRecord | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM actions WHERE action_id = $1', [actionId], 'read an action');
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async findByRequest(provider: string, creator: string, requestId: string): Promise<ActionRecord | undefined> {
    const { rows } = await this.db.query<Row>(
      'SELECT * FROM actions WHERE provider = $1 AND creator = $2 AND request_id = $3',
      [provider, creator, requestId],
      'read an action',
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async listByStatus(statuses: readonly ActionStatusValue[], provider?: string): Promise<ActionRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM actions WHERE status = ANY($1::text[]) AND ($2::text IS NULL OR provider = $2::text) ORDER BY start_time, action_id`,
      [statuses, provider ?? null],
      'list actions',
    );
    return rows.map(fromRow);
  }

  async delete(actionId: string): Promise<void> {
    // The log goes with the action (ON DELETE CASCADE).
    await this.db.query('DELETE FROM actions WHERE action_id = $1', [actionId], 'release an action');
  }

  async releaseExpired(now: number): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM actions WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= $1', [now], 'release expired actions');
    return rowCount ?? 0;
  }

  async appendLog(actionId: string, entry: ActionLogEntry): Promise<void> {
    await this.db.query(
      'INSERT INTO action_log (action_id, time, code, description, details) VALUES ($1, $2, $3, $4, $5)',
      [actionId, entry.time, entry.code, entry.description, entry.details === undefined ? null : JSON.stringify(entry.details)],
      'append to an action log',
    );
  }

  async readLog(actionId: string, after: number, limit: number): Promise<ActionLogPage> {
    const { rows } = await this.db.query<{ seq: string; time: string; code: string; description: string; details: Record<string, unknown> | null }>(
      'SELECT seq, time, code, description, details FROM action_log WHERE action_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [actionId, after, limit + 1],
      'read an action log',
    );
    const page = rows.slice(0, limit);
    return {
      entries: page.map((row) => ({ time: row.time, code: row.code, description: row.description, ...(row.details === null ? {} : { details: row.details }) })),
      last: page.length > 0 ? Number(page[page.length - 1]!.seq) : after,
      more: rows.length > limit,
    };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
