/**
 * The audit log in PostgreSQL: one table every replica appends to, so an admin reading
 * `GET /api/v1/audit` on any replica sees what happened on all of them, in one order (a sequence).
 */
import { auditLimit, type AuditEvent, type AuditQuery, type AuditStore, type NewAuditEvent } from '../../schemas/ports/audit-store.ts';
import { auditEventOf } from './sqlite-audit-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgres' as const;

  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresAuditStore> {
    await db.migrate();
    return new PostgresAuditStore(db.share());
  }

  async append(event: NewAuditEvent, at: number): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_events (at, action, actor, token_id, target, status, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        new Date(at).toISOString(),
        event.action,
        event.actor,
        event.token_id ?? null,
        event.target ?? null,
        event.status ?? null,
        event.ip ?? null,
        event.detail === undefined ? null : JSON.stringify(event.detail),
      ],
      'audit log',
    );
  }

  async list(query: AuditQuery = {}): Promise<AuditEvent[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (condition: string, value: unknown) => {
      values.push(value);
      where.push(condition.replace('?', `$${values.length}`));
    };
    if (query.before !== undefined) add('seq < ?', query.before);
    if (query.action !== undefined) add('action = ?', query.action);
    if (query.actor !== undefined) add('actor = ?', query.actor);
    values.push(auditLimit(query));
    const rows = await this.db.query<Parameters<typeof auditEventOf>[0]>(
      `SELECT seq, at, action, actor, token_id, target, status, ip, detail FROM audit_events
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${values.length}`,
      values,
      'audit log',
    );
    return rows.rows.map(auditEventOf);
  }

  async prune(cutoff: Date): Promise<number> {
    const result = await this.db.query('DELETE FROM audit_events WHERE at < $1', [cutoff.toISOString()], 'audit log');
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
