/** The embedded store of webhooks and their delivery queue: `webhooks.db` in the data folder. */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { DeliveryOutcome, DeliveryRecord, WebhookRecord, WebhookStore } from '../../schemas/ports/webhook-store.ts';
import { openSqliteFile } from './sqlite-open.ts';

const MIGRATIONS = [
  `
  CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    name          TEXT,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    secret        TEXT NOT NULL,
    description   TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    state         TEXT NOT NULL,
    failing_since TEXT
  );
  CREATE INDEX webhooks_by_owner ON webhooks (owner, created_at);
  CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_attempt_at TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    TEXT
  );
  CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, seq);
  CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);
  `,
];

interface WebhookRow extends Omit<WebhookRecord, 'events'> {
  events: string;
}

const webhookOf = (row: WebhookRow): WebhookRecord => ({ ...row, events: JSON.parse(row.events) as string[] });

const DELIVERY_COLUMNS = 'id, webhook_id, event, payload, state, attempts, created_at, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at';

export class SqliteWebhookStore implements WebhookStore {
  private seq: number;

  private constructor(private readonly db: Database.Database) {
    db.pragma('foreign_keys = ON');
    // Deliveries keep the order they were queued in, also across restarts.
    this.seq = (db.prepare('SELECT COALESCE(MAX(seq), 0) FROM deliveries').pluck().get() as number) ?? 0;
  }

  static open(file: string): SqliteWebhookStore {
    return new SqliteWebhookStore(openSqliteFile(file, MIGRATIONS, 'webhook store'));
  }

  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'webhooks.db');
  }

  async create(webhook: WebhookRecord): Promise<void> {
    this.db
      .prepare('INSERT INTO webhooks (id, owner, name, url, events, secret, description, created_by, created_at, state, failing_since) VALUES (@id, @owner, @name, @url, @events, @secret, @description, @created_by, @created_at, @state, @failing_since)')
      .run({ ...webhook, events: JSON.stringify(webhook.events) });
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
    return row && webhookOf(row);
  }

  async list(owner: string | undefined): Promise<WebhookRecord[]> {
    const rows = (owner === undefined
      ? this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM webhooks WHERE owner = ? ORDER BY created_at, id').all(owner)) as WebhookRow[];
    return rows.map(webhookOf);
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
  }

  async matching(owner: string, name: string, event: string): Promise<WebhookRecord[]> {
    const rows = this.db.prepare('SELECT * FROM webhooks WHERE owner = ? AND (name IS NULL OR name = ?) ORDER BY created_at, id').all(owner, name) as WebhookRow[];
    return rows.map(webhookOf).filter((webhook) => webhook.events.includes(event));
  }

  async enqueue(deliveries: DeliveryRecord[]): Promise<void> {
    const insert = this.db.prepare(`INSERT INTO deliveries (seq, ${DELIVERY_COLUMNS}) VALUES (@seq, @id, @webhook_id, @event, @payload, @state, @attempts, @created_at, @next_attempt_at, @last_attempt_at, @last_status, @last_error, @delivered_at)`);
    this.db.transaction(() => {
      for (const delivery of deliveries) insert.run({ ...delivery, seq: (this.seq += 1) });
    })();
  }

  async claim(now: string, limit: number, leaseUntil: string): Promise<DeliveryRecord[]> {
    return this.db.transaction(() => {
      const rows = this.db
        .prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, seq LIMIT ?`)
        .all(now, limit) as DeliveryRecord[];
      const lease = this.db.prepare('UPDATE deliveries SET next_attempt_at = ? WHERE id = ?');
      for (const row of rows) lease.run(leaseUntil, row.id);
      return rows;
    }).immediate();
  }

  async release(ids: readonly string[], now: string): Promise<void> {
    const release = this.db.prepare("UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND state = 'pending'");
    this.db.transaction(() => {
      for (const id of ids) release.run(now, id);
    })();
  }

  async nextDue(): Promise<string | undefined> {
    return (this.db.prepare("SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'").pluck().get() as string | null) ?? undefined;
  }

  async recordAttempt(delivery: DeliveryRecord, outcome: DeliveryOutcome): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE deliveries SET state = ?, attempts = ?, last_attempt_at = ?, last_status = ?, last_error = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?')
        .run(outcome.state, outcome.attempts, outcome.at, outcome.status, outcome.error, outcome.next_attempt_at, outcome.state === 'delivered' ? outcome.at : null, delivery.id);
      if (outcome.state === 'failed') {
        this.db.prepare("UPDATE webhooks SET state = 'failing', failing_since = COALESCE(failing_since, ?) WHERE id = ?").run(outcome.at, delivery.webhook_id);
      } else if (outcome.state === 'delivered') {
        this.db.prepare("UPDATE webhooks SET state = 'active', failing_since = NULL WHERE id = ?").run(delivery.webhook_id);
      }
    })();
  }

  async prune(before: string): Promise<number> {
    return this.db.prepare("DELETE FROM deliveries WHERE state <> 'pending' AND created_at < ?").run(before).changes;
  }

  async deliveries(webhookId: string, limit: number): Promise<DeliveryRecord[]> {
    return this.db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?`).all(webhookId, limit) as DeliveryRecord[];
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
