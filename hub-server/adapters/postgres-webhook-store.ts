/**
 * Webhooks and their delivery queue in PostgreSQL (docs/webhooks.md): one queue for every replica.
 * A dispatcher claims due deliveries with FOR UPDATE SKIP LOCKED and moves them out of the others'
 * reach for the lease, so two replicas never send the same delivery at once.
 */
import type { DeliveryOutcome, DeliveryRecord, WebhookRecord, WebhookStore } from '../../schemas/ports/webhook-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

const DELIVERY_COLUMNS = 'id, webhook_id, event, payload, state, attempts, created_at, next_attempt_at, last_attempt_at, last_status, last_error, delivered_at';
const WEBHOOK_COLUMNS = 'id, owner, name, url, events, secret, description, created_by, created_at, state, failing_since';

export class PostgresWebhookStore implements WebhookStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresWebhookStore> {
    await db.migrate();
    return new PostgresWebhookStore(db.share());
  }

  async create(webhook: WebhookRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO webhooks (${WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [webhook.id, webhook.owner, webhook.name, webhook.url, JSON.stringify(webhook.events), webhook.secret, webhook.description, webhook.created_by, webhook.created_at, webhook.state, webhook.failing_since],
      'webhook store',
    );
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    return (await this.db.query<WebhookRecord>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`, [id], 'webhook store')).rows[0];
  }

  async list(owner: string | undefined): Promise<WebhookRecord[]> {
    const result = owner === undefined
      ? await this.db.query<WebhookRecord>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id`, [], 'webhook store')
      : await this.db.query<WebhookRecord>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE owner = $1 ORDER BY created_at, id`, [owner], 'webhook store');
    return result.rows;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM webhooks WHERE id = $1', [id], 'webhook store')).rowCount ?? 0) > 0;
  }

  async matching(owner: string, name: string, event: string): Promise<WebhookRecord[]> {
    const result = await this.db.query<WebhookRecord>(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE owner = $1 AND (name IS NULL OR name = $2) AND events ? $3 ORDER BY created_at, id`,
      [owner, name, event],
      'webhook store',
    );
    return result.rows;
  }

  async enqueue(deliveries: DeliveryRecord[]): Promise<void> {
    await this.db.transaction(async (client) => {
      for (const d of deliveries) {
        await client.query(
          `INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [d.id, d.webhook_id, d.event, d.payload, d.state, d.attempts, d.created_at, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at],
        );
      }
    }, 'webhook store');
  }

  async claim(now: string, limit: number, leaseUntil: string): Promise<DeliveryRecord[]> {
    const result = await this.db.query<DeliveryRecord & { seq: string }>(
      `WITH due AS (
         SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
         ORDER BY next_attempt_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM due WHERE d.id = due.id
       RETURNING d.id, d.webhook_id, d.event, d.payload, d.state, d.attempts, d.created_at, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.seq`,
      [now, limit, leaseUntil],
      'webhook store',
    );
    // RETURNING keeps no order: oldest first again.
    return result.rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map(({ seq: _seq, ...delivery }) => delivery);
  }

  async release(ids: readonly string[], now: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query("UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = ANY($2) AND state = 'pending'", [now, [...ids]], 'webhook store');
  }

  async nextDue(): Promise<string | undefined> {
    const row = (await this.db.query<{ next: string | null }>("SELECT MIN(next_attempt_at) AS next FROM webhook_deliveries WHERE state = 'pending'", [], 'webhook store')).rows[0];
    return row?.next ?? undefined;
  }

  async recordAttempt(delivery: DeliveryRecord, outcome: DeliveryOutcome): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query(
        'UPDATE webhook_deliveries SET state = $1, attempts = $2, last_attempt_at = $3, last_status = $4, last_error = $5, next_attempt_at = $6, delivered_at = $7 WHERE id = $8',
        [outcome.state, outcome.attempts, outcome.at, outcome.status, outcome.error, outcome.next_attempt_at, outcome.state === 'delivered' ? outcome.at : null, delivery.id],
      );
      if (outcome.state === 'failed') {
        await client.query("UPDATE webhooks SET state = 'failing', failing_since = COALESCE(failing_since, $1) WHERE id = $2", [outcome.at, delivery.webhook_id]);
      } else if (outcome.state === 'delivered') {
        await client.query("UPDATE webhooks SET state = 'active', failing_since = NULL WHERE id = $1", [delivery.webhook_id]);
      }
    }, 'webhook store');
  }

  async prune(before: string): Promise<number> {
    return (await this.db.query("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1", [before], 'webhook store')).rowCount ?? 0;
  }

  async deliveries(webhookId: string, limit: number): Promise<DeliveryRecord[]> {
    const result = await this.db.query<DeliveryRecord>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2`, [webhookId, limit], 'webhook store');
    return result.rows;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
