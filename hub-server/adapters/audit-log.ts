/**
 * The audit log: who published, withdrew, changed sharing, made or revoked tokens, and who was
 * turned away (401/403). An append-only SQLite table in `audit.db` in the data folder, readable by
 * admins at `GET /api/v1/audit`. Secrets never go in: tokens appear by their public id.
 *
 * It must not grow without bound: refusals are aggregated per client and minute (a flood of bad
 * tokens writes a couple of rows, see DenialAggregator), and events older than the retention
 * (`MODELHUB_AUDIT_RETENTION_DAYS`, default 90) are pruned at open and then every hour.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Type, type Static } from '@sinclair/typebox';
import { DenialAggregator } from './denial-aggregator.ts';

export const AUDIT_ACTIONS = ['publish', 'withdraw', 'sharing', 'token.create', 'token.revoke', 'denied', 'sign-in', 'sign-out', 'identity.link'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditEvent = Type.Object(
  {
    seq: Type.Integer(),
    at: Type.String(),
    action: Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a))),
    /** The user, `anonymous`, or `local` (the CLI acting on the data folder). */
    actor: Type.String(),
    token_id: Type.Optional(Type.String()),
    /** What was acted on: `owner/name[@version]`, a token id, or `METHOD /path` for a denial. */
    target: Type.Optional(Type.String()),
    status: Type.Optional(Type.Integer()),
    ip: Type.Optional(Type.String()),
    detail: Type.Optional(Type.Unknown()),
  },
  { $id: 'AuditEvent' },
);
export type AuditEvent = Static<typeof AuditEvent>;
export type NewAuditEvent = Omit<AuditEvent, 'seq' | 'at'>;

export interface AuditQuery {
  limit?: number;
  /** Only events with a seq below this (paging backwards from the newest). */
  before?: number;
  action?: AuditAction;
  actor?: string;
}

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

export interface AuditLogOptions {
  /** Events older than this many days are pruned (default 90). */
  retentionDays?: number;
  /** How often the prune runs (default hourly). */
  pruneIntervalMs?: number;
  /** Window of the refusal aggregation (default a minute). */
  denialWindowMs?: number;
  /** The clock, in ms since the epoch (tests). */
  now?: () => number;
}

export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

export class AuditLog {
  private readonly insert: Database.Statement;
  private readonly denials: DenialAggregator;
  private readonly pruneTimer: NodeJS.Timeout;
  private readonly retentionMs: number;
  private readonly now: () => number;

  private constructor(
    private readonly db: Database.Database,
    options: AuditLogOptions,
  ) {
    this.insert = db.prepare(
      `INSERT INTO events (at, action, actor, token_id, target, status, ip, detail)
       VALUES (@at, @action, @actor, @token_id, @target, @status, @ip, @detail)`,
    );
    this.now = options.now ?? Date.now;
    this.retentionMs = (options.retentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS) * 86_400_000;
    this.denials = new DenialAggregator((event, at) => this.write(event, at), { windowMs: options.denialWindowMs, now: this.now });
    this.prune();
    this.pruneTimer = setInterval(() => {
      try {
        this.prune();
      } catch {
        // A busy database is pruned at the next tick; the audit log never stops the hub.
      }
    }, options.pruneIntervalMs ?? 3_600_000);
    this.pruneTimer.unref();
  }

  static open(file: string, options: AuditLogOptions = {}): AuditLog {
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
    return new AuditLog(db, options);
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'audit.db');
  }

  /** Refusals (`denied`) go through the per-client aggregation; everything else is written at once. */
  record(event: NewAuditEvent): void {
    if (event.action === 'denied') this.denials.record(event);
    else this.write(event, this.now());
  }

  /** Writes the summaries of finished refusal windows now (the hub does this every minute). */
  flush(): void {
    this.denials.flush(false);
  }

  /** Deletes events older than the retention; returns how many. */
  prune(): number {
    const cutoff = new Date(this.now() - this.retentionMs).toISOString();
    return this.db.prepare('DELETE FROM events WHERE at < ?').run(cutoff).changes;
  }

  private write(event: NewAuditEvent, at: number): void {
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

  /** Newest first. */
  list(query: AuditQuery = {}): AuditEvent[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.max(1, Math.min(query.limit ?? 100, 1000)) };
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
    return rows.map((row) => {
      const event: AuditEvent = { seq: row.seq, at: row.at, action: row.action, actor: row.actor };
      if (row.token_id !== null) event.token_id = row.token_id;
      if (row.target !== null) event.target = row.target;
      if (row.status !== null) event.status = row.status;
      if (row.ip !== null) event.ip = row.ip;
      if (row.detail !== null) event.detail = JSON.parse(row.detail) as unknown;
      return event;
    });
  }

  close(): void {
    clearInterval(this.pruneTimer);
    if (!this.db.open) return;
    this.denials.close();
    this.db.close();
  }
}
