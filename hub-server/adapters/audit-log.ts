/**
 * The audit log: who published, withdrew, changed sharing, made or revoked tokens, and who was
 * turned away (401/403). Kept by an AuditStore (SQLite `audit.db` in the data folder; one
 * PostgreSQL table shared by every replica when MODELHUB_DATABASE_URL is set), readable by admins
 * at `GET /api/v1/audit`. Secrets never go in: tokens appear by their public id.
 *
 * It must not grow without bound: refusals are aggregated per client and minute (a flood of bad
 * tokens writes a couple of rows, see DenialAggregator; with replicas, each replica aggregates
 * what it sees), and events older than the retention (`MODELHUB_AUDIT_RETENTION_DAYS`, default 90)
 * are pruned at open and then every hour.
 *
 * Recording never makes a request wait or fail: writes go to the store in the background, and one
 * that fails (the database away) is reported to `onError` and lost. A list waits for this
 * process's writes still under way, so that what was recorded is listed.
 */
import { DenialAggregator } from './denial-aggregator.ts';
import { SqliteAuditStore } from './sqlite-audit-store.ts';
import type { AuditEvent, AuditQuery, AuditStore, NewAuditEvent } from '../../schemas/ports/audit-store.ts';

export { AUDIT_ACTIONS, AuditEvent } from '../../schemas/ports/audit-store.ts';
export type { AuditAction, AuditQuery, NewAuditEvent } from '../../schemas/ports/audit-store.ts';

export interface AuditLogOptions {
  /** Events older than this many days are pruned (default 90). */
  retentionDays?: number;
  /** How often the prune runs (default hourly). */
  pruneIntervalMs?: number;
  /** Window of the refusal aggregation (default a minute). */
  denialWindowMs?: number;
  /** The clock, in ms since the epoch (tests). */
  now?: () => number;
  /** A write or prune that failed in the background (default: ignored). */
  onError?: (error: unknown) => void;
}

export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

export class AuditLog {
  private readonly denials: DenialAggregator;
  private readonly pruneTimer: NodeJS.Timeout;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;
  /** Writes under way: a list or close waits for them. */
  private readonly writing = new Set<Promise<void>>();
  private closed = false;
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: AuditStore,
    options: AuditLogOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => undefined);
    this.retentionMs = (options.retentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS) * 86_400_000;
    this.denials = new DenialAggregator((event, at) => this.write(event, at), { windowMs: options.denialWindowMs, now: this.now });
    this.track(this.prune().then(() => undefined));
    this.pruneTimer = setInterval(() => this.track(this.prune().then(() => undefined)), options.pruneIntervalMs ?? 3_600_000);
    this.pruneTimer.unref();
  }

  /** The embedded audit log in a SQLite file (a single hub's data folder). */
  static open(file: string, options: AuditLogOptions = {}): AuditLog {
    return new AuditLog(SqliteAuditStore.open(file), options);
  }

  static fileIn(dataDir: string): string {
    return SqliteAuditStore.fileIn(dataDir);
  }

  get kind(): AuditStore['kind'] {
    return this.store.kind;
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
  prune(): Promise<number> {
    return this.store.prune(new Date(this.now() - this.retentionMs));
  }

  /** Newest first; includes every event this process recorded before the call. */
  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    await Promise.all([...this.writing]);
    return this.store.list(query);
  }

  private write(event: NewAuditEvent, at: number): void {
    if (this.closed) return;
    // One write after the other: seq follows the order events happened in (a pool would reorder them).
    const previous = this.lastWrite;
    this.lastWrite = previous.catch(() => undefined).then(() => this.store.append(event, at));
    this.track(this.lastWrite);
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch(this.onError).finally(() => this.writing.delete(tracked));
    this.writing.add(tracked);
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    if (this.closed) return;
    this.denials.close();
    this.closed = true;
    await Promise.all([...this.writing]);
    await this.store.close();
  }
}
