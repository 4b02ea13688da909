/**
 * The audit log of a single hub: an append-only SQLite table in `audit.db` in the data folder.
 * better-sqlite3 is synchronous, so an append is written before `append` returns its promise.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { auditLimit, type AuditAction, type AuditEvent, type AuditQuery, type AuditStore, type NewAuditEvent } from '../../schemas/ports/audit-store.ts';

interface AuditRow {
  seq: number;
  at: string;
  action: AuditAction;
  actor: string;
  token_id: string | null;
  target: string | null;
  status: number | null;
  ip: string | null;
  detail: string | null;
}

/** A row of either adapter as the port's event (absent columns left out, detail parsed). */
export function auditEventOf(row: Omit<AuditRow, 'detail'> & { detail: unknown }): AuditEvent {
  const event: AuditEvent = { seq: Number(row.seq), at: row.at, action: row.action, actor: row.actor };
  if (row.token_id !== null) event.token_id = row.token_id;
  if (row.target !== null) event.target = row.target;
  if (row.status !== null) event.status = row.status;
  if (row.ip !== null) event.ip = row.ip;
  if (row.detail !== null) event.detail = typeof row.detail === 'string' ? (JSON.parse(row.detail) as unknown) : row.detail;
  return event;
}

export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  private readonly insert: Database.Statement;

  private constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO events (at, action, actor, token_id, target, status, ip, detail)
       VALUES (@at, @action, @actor, @token_id, @target, @status, @ip, @detail)`,
    );
  }

  static open(file: string): SqliteAuditStore {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        action   TEXT NOT NULL,
        actor    TEXT NOT NULL,
        token_id TEXT,
        target   TEXT,
        status   INTEGER,
        ip       TEXT,
        detail   TEXT
      );
      CREATE INDEX IF NOT EXISTS events_by_action ON events (action, seq);
      CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, seq);
    `);
    db.exec('CREATE INDEX IF NOT EXISTS events_by_time ON events (at)');
    return new SqliteAuditStore(db);
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'audit.db');
  }

  async append(event: NewAuditEvent, at: number): Promise<void> {
    this.insert.run({
      at: new Date(at).toISOString(),
      action: event.action,
      actor: event.actor,
      token_id: event.token_id ?? null,
      target: event.target ?? null,
      status: event.status ?? null,
      ip: event.ip ?? null,
      detail: event.detail === undefined ? null : JSON.stringify(event.detail),
    });
  }

  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: auditLimit(query) };
    if (query.before !== undefined) {
      where.push('seq < @before');
      params.before = query.before;
    }
    if (query.action !== undefined) {
      where.push('action = @action');
      params.action = query.action;
    }
    if (query.actor !== undefined) {
      where.push('actor = @actor');
      params.actor = query.actor;
    }
    const rows = this.db
      .prepare(`SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`)
      .all(params) as AuditRow[];
    return rows.map(auditEventOf);
  }

  async prune(cutoff: Date): Promise<number> {
    // ISO text in UTC sorts as time does.
    return this.db.prepare('DELETE FROM events WHERE at < ?').run(cutoff.toISOString()).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
