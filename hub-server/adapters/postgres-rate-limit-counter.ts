/**
 * Rate-limit buckets in PostgreSQL, shared by every replica: one row per key, refilled and taken
 * from in ONE statement (an upsert whose row lock serialises concurrent takes on the same key), on
 * the database's clock so that replicas with skewed clocks agree. A bucket idle for a minute is
 * full again, so such rows are deleted every minute; a missing row is a full bucket.
 *
 * While PostgreSQL does not answer, the replica counts in its own memory instead (the limit then
 * holds per replica): a rate limit is no reason to fail requests that need no database, such as a
 * run of a warm servable.
 */
import { decisionOf, type RateLimitCounter, type RateLimitDecision } from '../../schemas/ports/rate-limit-counter.ts';
import { TokenBuckets } from './memory-rate-limit-counter.ts';
import { isPostgresUnavailable, type PostgresDatabase } from './postgres-database.ts';

export interface PostgresRateLimitOptions {
  /** The clock in ms (tests); by default the database's own. */
  now?: () => number;
  /** How often idle buckets are deleted (default a minute). */
  pruneIntervalMs?: number;
  /** Told when the database did not answer and memory counted instead. */
  onFallback?: (error: unknown) => void;
}

const TAKE = `
  WITH clock AS (SELECT COALESCE($3::float8, extract(epoch FROM clock_timestamp()) * 1000) AS ms)
  INSERT INTO rate_buckets AS b (key, tokens, updated_ms, allowed)
  SELECT $1, $2::float8 - 1, clock.ms, true FROM clock
  ON CONFLICT (key) DO UPDATE SET
    allowed    = LEAST($2::float8, b.tokens + GREATEST(0, EXCLUDED.updated_ms - b.updated_ms) * $2::float8 / 60000) >= 1,
    tokens     = LEAST($2::float8, b.tokens + GREATEST(0, EXCLUDED.updated_ms - b.updated_ms) * $2::float8 / 60000)
                 - CASE WHEN LEAST($2::float8, b.tokens + GREATEST(0, EXCLUDED.updated_ms - b.updated_ms) * $2::float8 / 60000) >= 1 THEN 1 ELSE 0 END,
    updated_ms = GREATEST(b.updated_ms, EXCLUDED.updated_ms)
  RETURNING tokens, allowed`;

export class PostgresRateLimitCounter implements RateLimitCounter {
  readonly kind = 'postgres' as const;
  private readonly fallback: TokenBuckets;
  private readonly pruneTimer: NodeJS.Timeout;

  private constructor(
    private readonly db: PostgresDatabase,
    private readonly perMinute: number,
    private readonly options: PostgresRateLimitOptions,
  ) {
    this.fallback = new TokenBuckets(perMinute, options.now);
    this.pruneTimer = setInterval(() => void this.prune().catch(() => undefined), options.pruneIntervalMs ?? 60_000);
    this.pruneTimer.unref();
  }

  static async open(db: PostgresDatabase, perMinute: number, options: PostgresRateLimitOptions = {}): Promise<PostgresRateLimitCounter> {
    await db.migrate();
    return new PostgresRateLimitCounter(db.share(), perMinute, options);
  }

  async take(key: string): Promise<RateLimitDecision> {
    try {
      const result = await this.db.query<{ tokens: number; allowed: boolean }>(TAKE, [key, this.perMinute, this.options.now?.() ?? null], 'rate limits');
      const row = result.rows[0]!;
      return decisionOf(row.allowed, row.tokens, this.perMinute);
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      if (!isPostgresUnavailable(cause)) throw error;
      this.options.onFallback?.(error);
      return this.fallback.take(key);
    }
  }

  /** Deletes buckets idle long enough to be full again (they read as full when missing). */
  async prune(): Promise<number> {
    const result = await this.db.query(
      `DELETE FROM rate_buckets WHERE updated_ms < COALESCE($1::float8, extract(epoch FROM clock_timestamp()) * 1000) - 60000`,
      [this.options.now?.() ?? null],
      'rate limits',
    );
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.db.close();
  }
}
