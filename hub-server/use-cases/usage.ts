/**
 * Usage an author can see (docs/usage.md): runs, errors, mean latency and distinct callers per
 * servable version and day. `count` is on every run's path, so it only adds to a map in memory;
 * the map goes to the store every MODELHUB_USAGE_FLUSH_SECONDS, before a read, and at close.
 * Callers are kept only as salted sha256 hashes (the salt is the store's and never leaves it), so
 * a distinct count needs no names and none can be read back.
 */
import { createHash } from 'node:crypto';
import type { UsageDay, UsageIncrement, UsageStore } from '../../schemas/ports/usage-store.ts';

interface Tally {
  runs: number;
  errors: number;
  totalMs: number;
  anonymousRuns: number;
  callers: Set<string>;
}

export interface UsageSummary {
  runs: number;
  errors: number;
  distinct_callers: number;
  anonymous_runs: number;
  mean_latency_ms: number | null;
}

export interface UsageReport {
  servable: string;
  /** The one version asked for; null: all versions. */
  version: number | null;
  since: string;
  totals: UsageSummary;
  days: (Omit<UsageSummary, 'mean_latency_ms'> & { day: string; version: number; mean_latency_ms: number | null })[];
}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const mean = (totalMs: number, runs: number) => (runs > 0 ? Math.round((totalMs / runs) * 1000) / 1000 : null);

export class UsageCounter {
  private pending = new Map<string, { owner: string; name: string; version: number; day: string; tally: Tally }>();
  private timer: NodeJS.Timeout | undefined;
  private saltValue: string | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: UsageStore,
    private readonly options: { flushIntervalMs: number; onError?: (error: unknown) => void },
  ) {}

  /** One run (the gateway's RunObserver.count): a few map operations, nothing else. */
  count(servable: string, version: number, caller: string | null | undefined, ok: boolean, totalMs: number): void {
    const day = dayOf(Date.now());
    const key = `${servable}\u0000${version}\u0000${day}`;
    let entry = this.pending.get(key);
    if (!entry) {
      const slash = servable.indexOf('/');
      entry = { owner: servable.slice(0, slash), name: servable.slice(slash + 1), version, day, tally: { runs: 0, errors: 0, totalMs: 0, anonymousRuns: 0, callers: new Set() } };
      this.pending.set(key, entry);
    }
    const tally = entry.tally;
    tally.runs += 1;
    if (!ok) tally.errors += 1;
    tally.totalMs += Number.isFinite(totalMs) ? totalMs : 0;
    if (caller) tally.callers.add(caller);
    else tally.anonymousRuns += 1;
  }

  start(): void {
    if (this.timer || this.options.flushIntervalMs <= 0) return;
    this.timer = setInterval(() => void this.flush().catch((error: unknown) => this.options.onError?.(error)), this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Writes what was counted since the last flush (one at a time: a second waits for the first). */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.saltValue ??= await this.store.salt();
    const salt = this.saltValue;
    const increments: UsageIncrement[] = [...batch.values()].map(({ owner, name, version, day, tally }) => ({
      owner,
      name,
      version,
      day,
      runs: tally.runs,
      errors: tally.errors,
      total_ms: tally.totalMs,
      anonymous_runs: tally.anonymousRuns,
      caller_hashes: [...tally.callers].map((caller) => createHash('sha256').update(salt).update('\u0000').update(caller).digest('hex')),
    }));
    try {
      await this.store.add(increments);
    } catch (error) {
      // Not lost: counted again with the next flush.
      for (const [key, entry] of batch) {
        const current = this.pending.get(key);
        if (!current) this.pending.set(key, entry);
        else {
          current.tally.runs += entry.tally.runs;
          current.tally.errors += entry.tally.errors;
          current.tally.totalMs += entry.tally.totalMs;
          current.tally.anonymousRuns += entry.tally.anonymousRuns;
          for (const caller of entry.tally.callers) current.tally.callers.add(caller);
        }
      }
      throw error;
    }
  }

  /** The usage of owner/name (one version or all) over the last `days` days, today included. */
  async report(owner: string, name: string, options: { version?: number; days: number }): Promise<UsageReport> {
    await this.flush();
    const since = dayOf(Date.now() - (options.days - 1) * 86_400_000);
    const rows: UsageDay[] = await this.store.days(owner, name, since, options.version);
    const totals = rows.reduce((sum, row) => ({ runs: sum.runs + row.runs, errors: sum.errors + row.errors, totalMs: sum.totalMs + row.total_ms, anonymous: sum.anonymous + row.anonymous_runs }), { runs: 0, errors: 0, totalMs: 0, anonymous: 0 });
    return {
      servable: `${owner}/${name}`,
      version: options.version ?? null,
      since,
      totals: {
        runs: totals.runs,
        errors: totals.errors,
        distinct_callers: await this.store.distinctCallers(owner, name, since, options.version),
        anonymous_runs: totals.anonymous,
        mean_latency_ms: mean(totals.totalMs, totals.runs),
      },
      days: rows.map((row) => ({
        day: row.day,
        version: row.version,
        runs: row.runs,
        errors: row.errors,
        distinct_callers: row.distinct_callers,
        anonymous_runs: row.anonymous_runs,
        mean_latency_ms: mean(row.total_ms, row.runs),
      })),
    };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch((error: unknown) => this.options.onError?.(error));
  }
}
