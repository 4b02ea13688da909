/**
 * What a publish that died leaves behind: its upload folder `<data>/uploads/<uuid>` (the request's
 * parts, the unpacked tree) and the blobs it stored before the crash, which no version names.
 * The hub sweeps both when it starts and then every `MODELHUB_SWEEP_INTERVAL_SECONDS`;
 * `modelhub gc` reports and removes them while no hub runs on the folder.
 *
 * What is never removed: anything younger than the grace period (an upload still arriving, a blob
 * another process's publish has just stored; a put of bytes already stored refreshes the blob's
 * age), and what a running publish of this hub says it uses (`inUse`), whatever its age. Replicas
 * sharing a blob store (PostgreSQL mode) also keep what any replica's running publish recorded in
 * the shared task table, and sweep blobs one replica at a time.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BlobListing, BlobStore } from '../../schemas/ports/blob-store.ts';
import type { Registry } from '../../schemas/ports/registry.ts';
import type { WorkLocks } from '../../schemas/ports/work-locks.ts';

export interface SweepOptions {
  /** Leftovers younger than this are kept. */
  graceMs: number;
  /** Now, in ms since the epoch (tests pass their own clock). */
  now?: () => number;
}

export interface UploadSweepOptions extends SweepOptions {
  /** Absolute paths of upload folders that running publishes use. */
  inUse?: () => Set<string>;
}

export interface BlobSweepOptions extends SweepOptions {
  blobs: BlobStore;
  registry: Registry;
  /**
   * Digests that running publishes stored and have not registered yet: this hub's, and with a
   * shared registry every replica's (`Registry.blobsOfRunningTasks`, read from the task table).
   */
  inUse?: () => Set<string> | Promise<Set<string>>;
}

export interface SweepReport {
  /** Upload folders removed (their names under `<data>/uploads`). */
  uploads: string[];
  blobs: BlobListing[];
  /** Bytes freed, uploads and blobs together. */
  bytes: number;
}

/** Size and newest modification time of everything under `target` (a file being written is "new"). */
async function footprint(target: string): Promise<{ bytes: number; newestMs: number }> {
  const stat = await fs.lstat(target);
  let bytes = stat.isFile() ? stat.size : 0;
  let newestMs = stat.mtimeMs;
  if (stat.isDirectory()) {
    for (const entry of await fs.readdir(target)) {
      const inner = await footprint(path.join(target, entry)).catch(() => ({ bytes: 0, newestMs: 0 }));
      bytes += inner.bytes;
      newestMs = Math.max(newestMs, inner.newestMs);
    }
  }
  return { bytes, newestMs };
}

/** Removes upload folders older than the grace period that no running publish uses. */
export async function sweepUploads(uploadsDir: string, options: UploadSweepOptions): Promise<{ removed: string[]; bytes: number }> {
  const now = options.now ?? Date.now;
  const entries = await fs.readdir(uploadsDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const removed: string[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const folder = path.resolve(uploadsDir, entry);
    if (options.inUse?.().has(folder)) continue;
    const seen = await footprint(folder).catch(() => undefined);
    if (!seen || now() - seen.newestMs < options.graceMs) continue;
    // Asked again right before removing: a publish may have taken it while the folder was measured.
    if (options.inUse?.().has(folder)) continue;
    await fs.rm(folder, { recursive: true, force: true });
    removed.push(entry);
    bytes += seen.bytes;
  }
  return { removed, bytes };
}

/** Blobs that no version names, no running publish uses, and that are older than the grace period. */
export async function unreferencedBlobs(options: BlobSweepOptions): Promise<BlobListing[]> {
  const now = options.now ?? Date.now;
  // In this order: a publish that registers its version after the registry was read had its blobs
  // in use before (or stored them after, and they are young).
  const inUse = await runningPublishBlobs(options);
  const referenced = await options.registry.referencedBlobs();
  const found: BlobListing[] = [];
  for await (const blob of options.blobs.list()) {
    if (referenced.has(blob.sha256) || inUse.has(blob.sha256)) continue;
    if (now() - blob.storedAt.getTime() < options.graceMs) continue;
    found.push(blob);
  }
  return found;
}

/** This hub's running publishes' blobs and, with a shared registry, those every replica's running publishes recorded. */
async function runningPublishBlobs(options: BlobSweepOptions): Promise<Set<string>> {
  const own = (await options.inUse?.()) ?? new Set<string>();
  const shared = (await options.registry.blobsOfRunningTasks?.()) ?? new Set<string>();
  return new Set([...own, ...shared]);
}

/** Deletes what `unreferencedBlobs` finds; answers what it deleted. */
export async function sweepBlobs(options: BlobSweepOptions): Promise<{ removed: BlobListing[]; bytes: number }> {
  const removed: BlobListing[] = [];
  const found = await unreferencedBlobs(options);
  // Asked again right before removing: a publish (here or on another replica) may have taken one since.
  const inUse = found.length > 0 ? await runningPublishBlobs(options) : new Set<string>();
  for (const blob of found) {
    if (inUse.has(blob.sha256)) continue;
    await options.blobs.delete(blob.sha256);
    removed.push(blob);
  }
  return { removed, bytes: removed.reduce((sum, blob) => sum + blob.size, 0) };
}

export interface LeftoverSweeperOptions extends BlobSweepOptions {
  uploadsDir: string;
  /** Replicas sharing a blob store sweep it one at a time (the others skip that turn). */
  locks?: WorkLocks;
  uploadsInUse?: () => Set<string>;
  intervalMs: number;
  log: (report: SweepReport) => void;
  onError: (error: unknown) => void;
}

/** Sweeps uploads and blobs now and every `intervalMs`, one sweep at a time, until stopped. */
export class LeftoverSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepReport | undefined>;
  private stopped = false;

  constructor(private readonly options: LeftoverSweeperOptions) {}

  /** One sweep (waits for one already under way instead of starting a second). */
  sweep(): Promise<SweepReport | undefined> {
    this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      void this.sweep().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs).unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async sweepSharedBlobs(): Promise<{ removed: BlobListing[]; bytes: number }> {
    if (!this.options.locks) return sweepBlobs(this.options);
    const swept = await this.options.locks.tryWithLock('sweep blobs', () => sweepBlobs(this.options));
    return swept.ran ? swept.value : { removed: [], bytes: 0 };
  }

  private async sweepOnce(): Promise<SweepReport | undefined> {
    try {
      const uploads = await sweepUploads(this.options.uploadsDir, { ...this.options, inUse: this.options.uploadsInUse });
      const blobs = this.stopped ? { removed: [], bytes: 0 } : await this.sweepSharedBlobs();
      const report = { uploads: uploads.removed, blobs: blobs.removed, bytes: uploads.bytes + blobs.bytes };
      if (report.uploads.length > 0 || report.blobs.length > 0) this.options.log(report);
      return report;
    } catch (error) {
      // A backend that is down now (S3) is tried again at the next interval.
      this.options.onError(error);
      return undefined;
    }
  }
}
