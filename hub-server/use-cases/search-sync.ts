/**
 * Keeps the search index following the registry when the index's backend comes and goes. The
 * registry is the system of record: a write the index refuses because its backend is unavailable is
 * queued and retried in order until it succeeds, so publishing and withdrawing keep working while
 * Elasticsearch is down, and the missed documents are indexed when it returns. The queue itself is
 * in memory, but while it holds anything a marker file says so: a hub stopped (or killed) with
 * writes still queued finds the marker at its next start and rebuilds the index from the registry.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { toHubError } from '../../schemas/errors.ts';
import type { SearchIndex } from '../../schemas/ports/search-index.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';

type PendingWrite =
  | { kind: 'index'; document: PublishedMetadata }
  | { kind: 'remove'; owner: string; name: string; version?: number }
  /** Every published document, read afresh at each try: the registry may have moved on meanwhile. */
  | { kind: 'rebuild'; documents: () => AsyncIterable<PublishedMetadata> };

export interface SearchSyncOptions {
  retryMs?: number;
  log?: (message: string) => void;
  /** The marker file that outlives the process while writes are queued. */
  backlogFile?: string;
}

export class SearchSync {
  private readonly pending: PendingWrite[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Whether the hub that ran before stopped with writes the index never received. */
  readonly missedWritesBeforeRestart: boolean;

  constructor(
    private readonly index: SearchIndex,
    private readonly options: SearchSyncOptions = {},
  ) {
    this.missedWritesBeforeRestart = options.backlogFile !== undefined && existsSync(options.backlogFile);
  }

  /** Index a document now, or queue it; resolves with what happened. */
  indexDocument(document: PublishedMetadata): Promise<{ deferred: boolean; reason?: string }> {
    return this.write({ kind: 'index', document });
  }

  removeServable(owner: string, name: string, version?: number): Promise<{ deferred: boolean; reason?: string }> {
    return this.write({ kind: 'remove', owner, name, version });
  }

  /** Index exactly these documents (dropping all others), now or once the backend is back. */
  rebuildFrom(documents: () => AsyncIterable<PublishedMetadata>): Promise<{ deferred: boolean; reason?: string }> {
    return this.write({ kind: 'rebuild', documents });
  }

  get backlog(): number {
    return this.pending.length;
  }

  private async apply(write: PendingWrite): Promise<void> {
    if (write.kind === 'index') await this.index.index(write.document);
    else if (write.kind === 'remove') await this.index.remove(write.owner, write.name, write.version);
    else await this.index.rebuild(write.documents());
  }

  private markBacklog(queued: boolean): void {
    const file = this.options.backlogFile;
    if (!file) return;
    try {
      if (queued) writeFileSync(file, `${new Date().toISOString()}\n`);
      else rmSync(file, { force: true });
    } catch (error) {
      this.options.log?.(`could not ${queued ? 'write' : 'remove'} the search backlog marker ${file}: ${(error as Error).message}`);
    }
  }

  private async write(write: PendingWrite): Promise<{ deferred: boolean; reason?: string }> {
    // Writes after a deferred one wait behind it, so that the index sees them in order.
    if (this.pending.length === 0) {
      try {
        await this.apply(write);
        // A whole rebuild also covers whatever an earlier run left queued.
        if (write.kind === 'rebuild') this.markBacklog(false);
        return { deferred: false };
      } catch (error) {
        const hubError = toHubError(error, 'BACKEND_UNAVAILABLE');
        if (hubError.code !== 'MODELHUB_BACKEND_UNAVAILABLE') throw hubError;
        this.options.log?.(`search index unavailable, write queued: ${hubError.message}`);
        this.enqueue(write);
        return { deferred: true, reason: hubError.message };
      }
    }
    this.enqueue(write);
    return { deferred: true, reason: 'earlier index writes are still waiting for the search backend' };
  }

  private enqueue(write: PendingWrite): void {
    if (this.pending.length === 0) this.markBacklog(true);
    this.pending.push(write);
    this.timer ??= setInterval(() => void this.flush(), this.options.retryMs ?? 10_000);
    this.timer.unref();
  }

  /** Try the queued writes in order; stops at the first that still fails. */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.pending.length > 0) {
          await this.apply(this.pending[0]!);
          this.pending.shift();
        }
        clearInterval(this.timer);
        this.timer = undefined;
        this.markBacklog(false);
        this.options.log?.('search index caught up');
      } catch {
        // Still unavailable: the next tick tries again.
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
