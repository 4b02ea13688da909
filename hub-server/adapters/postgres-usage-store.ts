/** Usage counts in PostgreSQL (docs/usage.md): every replica adds to the same days. */
import { randomBytes } from 'node:crypto';
import type { UsageDay, UsageIncrement, UsageStore } from '../../schemas/ports/usage-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';

export class PostgresUsageStore implements UsageStore {
  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresUsageStore> {
    await db.migrate();
    return new PostgresUsageStore(db.share());
  }

  async salt(): Promise<string> {
    // The first replica to ask chooses it; all of them hash with the same one.
    await this.db.query("INSERT INTO usage_meta (key, value) VALUES ('salt', $1) ON CONFLICT (key) DO NOTHING", [randomBytes(32).toString('base64url')], 'usage store');
    return (await this.db.query<{ value: string }>("SELECT value FROM usage_meta WHERE key = 'salt'", [], 'usage store')).rows[0]!.value;
  }

  async add(increments: UsageIncrement[]): Promise<void> {
    await this.db.transaction(async (client) => {
      for (const i of increments) {
        await client.query(
          `INSERT INTO usage_days (owner, name, version, day, runs, errors, total_ms, anonymous_runs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (owner, name, version, day) DO UPDATE SET runs = usage_days.runs + excluded.runs, errors = usage_days.errors + excluded.errors,
             total_ms = usage_days.total_ms + excluded.total_ms, anonymous_runs = usage_days.anonymous_runs + excluded.anonymous_runs`,
          [i.owner, i.name, i.version, i.day, i.runs, i.errors, i.total_ms, i.anonymous_runs],
        );
        if (i.caller_hashes.length > 0) {
          await client.query(
            `INSERT INTO usage_callers (owner, name, version, day, caller_hash) SELECT $1, $2, $3, $4, unnest($5::text[]) ON CONFLICT DO NOTHING`,
            [i.owner, i.name, i.version, i.day, i.caller_hashes],
          );
        }
      }
    }, 'usage store');
  }

  async days(owner: string, name: string, since: string, version?: number): Promise<UsageDay[]> {
    const result = await this.db.query<UsageDay>(
      `SELECT d.version, d.day, d.runs::int AS runs, d.errors::int AS errors, d.total_ms, d.anonymous_runs::int AS anonymous_runs,
         (SELECT COUNT(*)::int FROM usage_callers c WHERE c.owner = d.owner AND c.name = d.name AND c.version = d.version AND c.day = d.day) AS distinct_callers
       FROM usage_days d WHERE d.owner = $1 AND d.name = $2 AND d.day >= $3 AND ($4::int IS NULL OR d.version = $4)
       ORDER BY d.day, d.version`,
      [owner, name, since, version ?? null],
      'usage store',
    );
    return result.rows;
  }

  async distinctCallers(owner: string, name: string, since: string, version?: number): Promise<number> {
    const result = await this.db.query<{ count: number }>(
      'SELECT COUNT(DISTINCT caller_hash)::int AS count FROM usage_callers WHERE owner = $1 AND name = $2 AND day >= $3 AND ($4::int IS NULL OR version = $4)',
      [owner, name, since, version ?? null],
      'usage store',
    );
    return result.rows[0]?.count ?? 0;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
