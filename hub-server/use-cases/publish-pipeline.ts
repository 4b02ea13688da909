/**
 * Publishing as a task with visible steps. The registry commit in `register` is the one point at
 * which a version becomes visible: everything before it (storing, inspecting, the warm-up run,
 * minting) can fail without leaving a listed version, a search hit or an identifier that resolves,
 * and a hub killed before it comes back with the task FAILED and the version never listed. A hub
 * killed after it (indexing) comes back and finishes the task (`completeInterrupted`): the task
 * says SUCCEEDED, as the registry does, and a client does not publish the same model twice.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { HubError, toHubError } from '../../schemas/errors.ts';
import type { BlobStore } from '../../schemas/ports/blob-store.ts';
import type { IdentifierMinter } from '../../schemas/ports/identifier-minter.ts';
import type { Registry } from '../../schemas/ports/registry.ts';
import type { WorkLocks } from '../../schemas/ports/work-locks.ts';
import type { JobRunner } from './job-runner.ts';
import type { JobRecord } from '../../schemas/ports/job-queue.ts';
import { fetchStagedUploads, isPublishJob, stageUploads, type PublishJob } from './publish-job.ts';
import type { SearchSync } from './search-sync.ts';
import type { ServableManager } from './gateway/servable-manager.ts';
import type { HubMetrics } from './gateway/metrics.ts';
import type { PublishAccepted, TaskDocument, TaskStep } from '../../schemas/api.ts';
import type { PublishedMetadata, ServableMetadata, StoredFile } from '../../schemas/metadata.ts';
import { decodeInputs, exampleInputs, exampleIsGuess } from '../../schemas/codecs/tensors.ts';
import type { LocalFile, ServableRuntime } from '../../schemas/ports/servable.ts';
import { archiveKind, extractArchive, listFiles, safeRelativePath, type ArchiveLimits } from '../../builder/archive.ts';
import { IdentifierSync, previousIdentifiers, versionRelations } from './identifiers.ts';

export const PUBLISH_STEPS = ['validate', 'store', 'environment', 'inspect', 'build', 'warm-up', 'mint', 'register', 'index', 'ready'] as const;
export type PublishStep = (typeof PUBLISH_STEPS)[number];

/** A file received with the publish request, already on local disk. */
export interface Upload {
  /** The name the client gave (a relative path for files of a folder). */
  fileName: string;
  tempPath: string;
}

export interface PublisherOptions {
  registry: Registry;
  blobs: BlobStore;
  search: SearchSync;
  minter: IdentifierMinter;
  manager: ServableManager;
  metrics?: HubMetrics;
  workDir: string;
  publisher: string;
  /** Bounds on what an uploaded archive may unpack to (DEFAULT_ARCHIVE_LIMITS when not given). */
  archiveLimits?: ArchiveLimits;
  /** Called once a version is registered (the gateway forgets cached documents). */
  onPublished?: (document: PublishedMetadata) => void;
  log?: (message: string) => void;
  /**
   * Test hook (MODELHUB_TEST_PAUSE_AT_STEP, set only by crash tests): every publish stops when it
   * begins this step, until the hub is stopped, so that a test can kill the hub exactly there.
   */
  pauseAtStep?: string;
  /**
   * Runtimes for the warm-up run, where they differ from the serving ones: an ONNX model is loaded
   * and run in a worker thread at publish time even when servables run on the event loop
   * (onnxruntime-node loads and runs synchronously on the calling thread).
   */
  warmUpRuntimes?: ReadonlyMap<string, ServableRuntime>;
  /** Identifier pushes take the servable's work lock (shared by replicas in PostgreSQL mode). */
  locks?: WorkLocks;
}

export class Publisher {
  private readonly running = new Set<Promise<void>>();
  /** Per running publish: its upload folder and the blobs it stored (not yet referenced by a version). */
  private readonly inFlight = new Map<string, { uploadDir: string; blobs: Set<string> }>();
  private readonly stopping = new AbortController();
  /** PostgreSQL mode: each publish is a job of the replicas' queue, which any replica can build (publish-job.ts). */
  private jobs?: Pick<JobRunner, 'submit'>;
  /** PostgreSQL mode: the uploads of publishes this replica accepted, still on its disk, by task id. */
  private readonly accepted = new Map<string, { uploads: Upload[]; uploadDir: string }>();

  constructor(private readonly options: PublisherOptions) {
    const pause = options.pauseAtStep;
    if (pause !== undefined && !(PUBLISH_STEPS as readonly string[]).includes(pause)) {
      throw new HubError('BAD_REQUEST', `MODELHUB_TEST_PAUSE_AT_STEP must be one of ${PUBLISH_STEPS.join(', ')}; got "${pause}"`);
    }
  }

  /** Blobs that running publishes have stored and not yet registered: a sweep must keep them. */
  blobsInUse(): Set<string> {
    return new Set([...this.inFlight.values()].flatMap((entry) => [...entry.blobs]));
  }

  /** Upload folders of running publishes: a sweep must keep them. */
  uploadDirsInUse(): Set<string> {
    return new Set([...this.inFlight.values()].map((entry) => path.resolve(entry.uploadDir)));
  }

  /**
   * Reserve the version and start the task; resolves as soon as the task exists (the route replies
   * 202 with it). The metadata must already be schema-valid.
   */
  async accept(metadata: ServableMetadata, uploads: Upload[], uploadDir: string): Promise<PublishAccepted> {
    const { owner, name } = metadata.hub;
    // PostgreSQL mode: the upload goes to the shared blob store first, so that any replica can
    // build it if this one dies; a blob store that refuses it refuses the publish before a version
    // number is taken.
    const staged = this.jobs ? await stageUploads(this.options.blobs, uploads) : undefined;
    const version = await this.options.registry.reserveVersion(owner, name);
    const taskId = randomUUID();
    const now = new Date().toISOString();
    // Only servables that become container images have a build step.
    const runtime = this.options.manager.runtimeFor(metadata.servable.type);
    const builds = runtime.needsBuild?.(metadata.servable) === true;
    // Only runtimes that install declared environments (Python) have an environment step.
    const prepares = runtime.prepareEnvironment !== undefined;
    const steps: TaskStep[] = PUBLISH_STEPS.filter((step) => (step !== 'build' || builds) && (step !== 'environment' || prepares)).map((step) => ({ name: step, status: 'PENDING' }));
    steps[0] = { name: 'validate', status: 'SUCCEEDED', started_at: now, completed_at: now, message: 'the metadata document is valid' };
    const task: TaskDocument = {
      task_id: taskId,
      kind: 'publish',
      status: 'PENDING',
      servable: `${owner}/${name}`,
      version,
      steps,
      log: [],
      created_at: now,
    };
    await this.options.registry.createTask(task);
    if (this.jobs && staged) {
      // Every replica's sweep keeps the staged blobs while the task runs.
      await this.options.registry.recordTaskBlobs?.(taskId, staged.map((upload) => upload.sha256));
      this.accepted.set(taskId, { uploads, uploadDir });
      const payload: PublishJob = { metadata, uploads: staged };
      // The job is leased to this replica and its first attempt starts here at once (runJob).
      await this.jobs.submit('publish', taskId, payload);
      return { task_id: taskId, servable: `${owner}/${name}`, version };
    }
    this.start(task, metadata, uploads, uploadDir);
    return { task_id: taskId, servable: `${owner}/${name}`, version };
  }

  /** Runs the publish's steps here; resolves when they end (the outcome is in the task). */
  private start(task: TaskDocument, metadata: ServableMetadata, uploads: Upload[], uploadDir: string, staged: readonly string[] = []): Promise<void> {
    this.inFlight.set(task.task_id, { uploadDir, blobs: new Set(staged) });
    const run = this.pipeline(task, metadata, uploads, uploadDir).finally(() => this.running.delete(run));
    this.running.add(run);
    return run;
  }

  /** Makes every publish from now on a job of the replicas' queue (PostgreSQL mode). */
  useJobs(jobs: Pick<JobRunner, 'submit'>): void {
    this.jobs = jobs;
  }

  /**
   * A `publish` job, on the replica that accepted it (its uploads on this disk) or on another one
   * that claimed it after the first replica died (its uploads fetched from the blob store). Does
   * only what is left: nothing for a task that ended, the last steps for a version already
   * committed, otherwise the build again from the start with the same version number, so that
   * nothing is published twice (the identifier is the version's, minted the same again).
   */
  async runJob(job: JobRecord): Promise<void> {
    const here = this.accepted.get(job.job_id);
    this.accepted.delete(job.job_id);
    const { registry } = this.options;
    const task = await registry.getTask(job.job_id);
    if (!task || task.status === 'SUCCEEDED' || task.status === 'FAILED') return;
    if (!isPublishJob(job.payload) || (await this.committedVersion(task))) {
      // A job of an older hub names no uploads; a committed version needs only its last steps.
      await this.settleAbandoned(job.job_id);
      return;
    }
    const { metadata, uploads: staged } = job.payload;
    if (here) {
      await this.start(task, metadata, here.uploads, here.uploadDir, staged.map((upload) => upload.sha256));
      return;
    }
    const stoppedAt = task.steps?.find((step) => step.status === 'RUNNING')?.name ?? 'store';
    await registry.appendTaskLog(
      task.task_id,
      `${new Date().toISOString()} the hub replica building this publish stopped during the ${stoppedAt} step; building it again on another replica from the uploaded files (attempt ${job.attempts} of ${job.max_attempts})`,
    );
    const uploadDir = path.join(this.options.workDir, randomUUID());
    let uploads: Upload[];
    try {
      uploads = await fetchStagedUploads(this.options.blobs, staged, uploadDir);
    } catch (error) {
      // Left for the next attempt (the blob store may be back then); abandoned after the last.
      await fsp.rm(uploadDir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    // The steps start again after validation; the task keeps its id, version and log.
    const steps = (task.steps ?? []).map((step): TaskStep => (step.name === 'validate' ? step : { name: step.name, status: 'PENDING' }));
    await this.start({ ...task, steps }, metadata, uploads, uploadDir, staged.map((upload) => upload.sha256));
  }

  /** The task's version as the registry holds it, when it was committed (published, or withdrawn since). */
  private async committedVersion(task: TaskDocument): Promise<boolean> {
    const [owner = '', name = ''] = (task.servable ?? '').split('/');
    const record = task.version === undefined ? undefined : await this.options.registry.getVersion(owner, name, task.version);
    return record?.document !== undefined && (record.state === 'published' || record.state === 'withdrawn');
  }

  /**
   * A publish whose replica died (its job's lease ran out), settled by another replica: a version
   * the registry committed is finished (as after a restart); otherwise the task fails, saying at
   * which step its replica stopped, and the version number is never used. Nothing is published
   * twice: the task keeps its one reserved version. Does nothing for a task that has ended.
   */
  async settleAbandoned(taskId: string, reason?: string): Promise<void> {
    const { registry } = this.options;
    const task = await registry.getTask(taskId);
    if (!task || task.status === 'SUCCEEDED' || task.status === 'FAILED') return;
    const [owner = '', name = ''] = (task.servable ?? '').split('/');
    const record = task.version === undefined ? undefined : await registry.getVersion(owner, name, task.version);
    if (record?.document && (record.state === 'published' || record.state === 'withdrawn')) {
      await this.completeInterrupted([task]);
      return;
    }
    const at = new Date().toISOString();
    const stoppedAt = task.steps?.find((step) => step.status === 'RUNNING')?.name ?? 'store';
    const message = reason
      ? `${reason} (it last stopped during the ${stoppedAt} step); nothing was published: publish again`
      : `the hub replica building this publish stopped during the ${stoppedAt} step; nothing was published: publish again`;
    if (task.version !== undefined) await registry.failVersion(owner, name, task.version);
    await registry.appendTaskLog(taskId, `${at} ${stoppedAt}: FAILED: ${message}`);
    await registry.updateTask(taskId, {
      status: 'FAILED',
      steps: task.steps?.map((step) => (step.status === 'RUNNING' ? { ...step, status: 'FAILED' as const, completed_at: at, message } : step)),
      completed_at: at,
      error: { code: 'MODELHUB_INTERNAL', message, step: stoppedAt },
    });
    this.options.metrics?.publishes.inc({ outcome: 'failed' });
  }

  /** Wait for running publishes (on shutdown). */
  async drain(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.running]);
  }

  /**
   * Finishes publishes that a stop interrupted after their registry commit (what
   * `Registry.settleInterruptedTasks` hands back at start-up): the version is published, so the steps
   * left (identifier sync, index, ready) run now and the task says SUCCEEDED, as the registry does.
   * Safe to repeat: a hub stopped again while doing it finds the same tasks at its next start.
   */
  async completeInterrupted(tasks: readonly TaskDocument[]): Promise<void> {
    const { registry } = this.options;
    for (const task of tasks) {
      const [owner = '', name = ''] = (task.servable ?? '').split('/');
      const record = task.version === undefined ? undefined : await registry.getVersion(owner, name, task.version);
      const document = record?.document;
      if (!document) continue; // settleInterruptedTasks only hands back committed versions.
      const log = (line: string) => registry.appendTaskLog(task.task_id, `${new Date().toISOString()} ${line}`);
      await log(`the hub stopped after ${owner}/${name} version ${document.hub.version} was registered; finishing the publish after the restart`);
      const steps = (task.steps ?? []).map((step) => ({ ...step }));
      for (const step of steps) {
        if (step.status === 'SUCCEEDED') continue;
        step.started_at ??= new Date().toISOString();
        if (step.name === 'register') {
          await this.syncIdentifiers(document, log);
          step.message = `${owner}/${name} version ${document.hub.version} registered`;
        } else if (step.name === 'index') {
          // A withdrawn version is a tombstone: there is nothing to make searchable.
          step.message = record.state === 'published' ? await this.index(document) : 'withdrawn before it was indexed';
        } else {
          step.message = step.name === 'ready' ? 'ready to run' : 'completed after a restart';
        }
        step.status = 'SUCCEEDED';
        step.completed_at = new Date().toISOString();
        await log(`${step.name}: ${step.message} (after a restart)`);
      }
      await registry.updateTask(task.task_id, {
        status: 'SUCCEEDED',
        steps,
        completed_at: new Date().toISOString(),
        result: { servable: `${owner}/${name}`, version: document.hub.version, identifier: document.hub.identifier },
        error: undefined,
      });
      this.options.onPublished?.(document);
      this.options.metrics?.publishes.inc({ outcome: 'succeeded' });
    }
  }

  /** The registry is the system of record: a search backend that is down delays search, not the publish. */
  private async index(document: PublishedMetadata): Promise<string> {
    const indexed = await this.options.search.indexDocument(document);
    return indexed.deferred ? `indexing deferred until the search backend answers: ${indexed.reason}` : 'searchable';
  }

  /**
   * A remote agency (DataCite) that is down or refusing leaves the identifier pending, retried
   * in the background: the version is published all the same.
   */
  private async syncIdentifiers(document: PublishedMetadata, log: (line: string) => Promise<void>): Promise<void> {
    const { registry, minter } = this.options;
    const { owner, name, identifier } = document.hub;
    const concept = (await registry.listIdentifiers({ owner, name })).filter((record) => record.version === undefined).map((record) => record.identifier);
    const sync = new IdentifierSync({ registry, minter, locks: this.options.locks });
    for (const outcome of await sync.syncServable(owner, name, [identifier, ...concept, ...previousIdentifiers(document)])) {
      await log(`register: identifier ${outcome.identifier} ${outcome.error ? `pending (retried in the background): ${outcome.error}` : outcome.state}`);
    }
  }

  /** The crash tests' hook (see `pauseAtStep`): wait here until the hub stops. */
  private async pauseForTest(taskId: string, step: PublishStep): Promise<void> {
    if (this.options.pauseAtStep !== step) return;
    this.options.log?.(`test hook MODELHUB_TEST_PAUSE_AT_STEP: publish task ${taskId} paused at step ${step}`);
    const signal = this.stopping.signal;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    throw new HubError('NOT_READY', `the hub stopped while the publish was paused at ${step} (test hook)`);
  }

  private async pipeline(task: TaskDocument, metadata: ServableMetadata, uploads: Upload[], uploadDir: string): Promise<void> {
    const { registry } = this.options;
    const { owner, name } = metadata.hub;
    const version = task.version!;
    const steps = task.steps!;
    const log = async (line: string) => {
      await registry.appendTaskLog(task.task_id, `${new Date().toISOString()} ${line}`);
    };
    let current: PublishStep = 'store';
    const begin = async (step: PublishStep) => {
      current = step;
      const entry = steps.find((s) => s.name === step)!;
      entry.status = 'RUNNING';
      entry.started_at = new Date().toISOString();
      await registry.updateTask(task.task_id, { status: 'RUNNING', steps });
      await log(`${step}: started`);
      await this.pauseForTest(task.task_id, step);
    };
    const finish = async (message: string) => {
      const entry = steps.find((s) => s.name === current)!;
      entry.status = 'SUCCEEDED';
      entry.completed_at = new Date().toISOString();
      entry.message = message;
      await registry.updateTask(task.task_id, { steps });
      await log(`${current}: ${message}`);
    };
    let registered = false;
    try {
      await begin('store');
      const { files, local } = await this.storeFiles(uploads, uploadDir, log, this.inFlight.get(task.task_id)!.blobs, task.task_id);
      await finish(`stored ${files.length} file(s), ${files.reduce((a, f) => a + f.size, 0)} bytes`);

      const runtime = this.options.manager.runtimeFor(metadata.servable.type);
      if (steps.some((s) => s.name === 'environment')) {
        // A declared environment is built before the servable is imported; pip's output goes to
        // the task log as it comes.
        await begin('environment');
        const environmentLines: Promise<void>[] = [];
        const summary = await runtime
          .prepareEnvironment!(local, metadata.servable, (line) => environmentLines.push(log(`environment: ${line}`)))
          .finally(() => Promise.all(environmentLines));
        await finish(summary);
      }

      await begin('inspect');
      const inspectLines: Promise<void>[] = [];
      const inspection = await runtime
        .inspect(local, metadata.servable, (line) => inspectLines.push(log(`inspect: ${line}`)))
        .finally(() => Promise.all(inspectLines));
      for (const warning of inspection.warnings) await log(`inspect: warning: ${warning}`);
      const now = new Date();
      const document: PublishedMetadata = {
        datacite: {
          ...metadata.datacite,
          publisher: metadata.datacite.publisher ?? this.options.publisher,
          publicationYear: metadata.datacite.publicationYear ?? String(now.getUTCFullYear()),
          resourceType: metadata.datacite.resourceType ?? { resourceTypeGeneral: 'Model', resourceType: `${metadata.servable.type} model` },
        },
        hub: {
          ...metadata.hub,
          version,
          visibility: metadata.hub.visibility ?? 'public',
          type: 'servable',
          files,
          dependencies: { ...inspection.dependencies, ...metadata.hub.dependencies },
          publication_date: now.toISOString(),
          identifier: '',
          inspection: inspection.facts,
        },
        servable: inspection.servable,
      };
      await finish(`${metadata.servable.type} model: ${describeMethod(document)}`);

      if (steps.some((s) => s.name === 'build')) {
        await begin('build');
        const pendingLines: Promise<void>[] = [];
        const summary = await runtime.build!(document, local, (line) => pendingLines.push(log(`build: ${line}`)));
        await Promise.all(pendingLines);
        await finish(summary);
      }

      await begin('warm-up');
      await finish(await this.warmUp(document, local));

      await begin('mint');
      const minted = await this.options.minter.mint(document);
      document.hub.identifier = minted.identifier;
      document.datacite.identifier = { identifier: minted.identifier, identifierType: minted.identifierType };
      const relations = await versionRelations(registry, this.options.minter, document, minted.conceptIdentifier);
      if (relations.length > 0) document.datacite.relatedIdentifiers = relations;
      await finish(`identifier ${minted.identifier} (${minted.state})`);

      await begin('register');
      // A blob deduplicated against one no version used could have been swept since it was stored.
      await this.restoreMissingBlobs(local);
      const created = new Date().toISOString();
      await registry.putIdentifier({ identifier: minted.identifier, owner, name, version, state: minted.state, created_at: created });
      if (minted.conceptIdentifier) {
        await registry.putIdentifier({ identifier: minted.conceptIdentifier, owner, name, state: minted.state, created_at: created });
      }
      await registry.commitVersion(document);
      registered = true;
      this.options.onPublished?.(document);
      await this.syncIdentifiers(document, log);
      await finish(`${owner}/${name} version ${version} registered`);

      await begin('index');
      await finish(await this.index(document));

      await begin('ready');
      await finish('ready to run');
      await registry.updateTask(task.task_id, {
        status: 'SUCCEEDED',
        completed_at: new Date().toISOString(),
        result: { servable: `${owner}/${name}`, version, identifier: minted.identifier },
      });
      this.options.metrics?.publishes.inc({ outcome: 'succeeded' });
    } catch (error) {
      const hubError = toHubError(error);
      const entry = steps.find((s) => s.name === current);
      if (entry) {
        entry.status = 'FAILED';
        entry.completed_at = new Date().toISOString();
        entry.message = hubError.message;
      }
      // Another attempt of the same job (a replica that lost its lease while slow, not dead)
      // committed this version: that attempt finishes the task; this one must not fail it.
      if (!registered && hubError.code === 'MODELHUB_CONFLICT' && (await this.committedVersion(task).catch(() => false))) return;
      await log(`${current}: FAILED: ${hubError.code}: ${hubError.message}`).catch(() => undefined);
      if (!registered) await registry.failVersion(owner, name, version).catch(() => undefined);
      await registry
        .updateTask(task.task_id, {
          status: 'FAILED',
          steps,
          completed_at: new Date().toISOString(),
          error: { code: hubError.code, message: hubError.message, step: current, details: hubError.details },
        })
        .catch(() => undefined);
      this.options.metrics?.publishes.inc({ outcome: 'failed' });
    } finally {
      await fsp.rm(uploadDir, { recursive: true, force: true }).catch(() => undefined);
      this.inFlight.delete(task.task_id);
    }
  }

  private async restoreMissingBlobs(local: readonly LocalFile[]): Promise<void> {
    for (const file of local) {
      if (!(await this.options.blobs.has(file.sha256))) await this.options.blobs.put(fs.createReadStream(file.localPath), file.sha256);
    }
  }

  /** Unpack archives, store every file content-addressed, and keep a local view for inspection. */
  private async storeFiles(uploads: Upload[], uploadDir: string, log: (line: string) => Promise<void>, stored: Set<string>, taskId: string) {
    if (uploads.length === 0) throw new HubError('BAD_REQUEST', 'the publish request has no file parts');
    const tree = path.join(uploadDir, 'tree');
    await fsp.mkdir(tree, { recursive: true });
    for (const upload of uploads) {
      const kind = uploads.length === 1 ? archiveKind(upload.fileName) : undefined;
      if (kind) {
        await log(`store: unpacking ${upload.fileName} (${kind})`);
        await extractArchive(upload.tempPath, kind, tree, this.options.archiveLimits);
        continue;
      }
      const relative = safeRelativePath(upload.fileName);
      if (!relative) throw new HubError('INVALID_ARCHIVE', `file name "${upload.fileName}" escapes the model folder`);
      const target = path.join(tree, relative);
      await fsp.mkdir(path.dirname(target), { recursive: true });
      await fsp.rename(upload.tempPath, target);
    }
    const relativePaths = await listFiles(tree);
    if (relativePaths.length === 0) throw new HubError('INVALID_ARCHIVE', 'the upload holds no files');
    const files: StoredFile[] = [];
    const local: LocalFile[] = [];
    for (const relative of relativePaths) {
      const localPath = path.join(tree, relative);
      const blob = await this.options.blobs.put(fs.createReadStream(localPath));
      stored.add(blob.sha256);
      // Replicas sharing the blob store keep it while this task runs (their sweeps read this).
      await this.options.registry.recordTaskBlobs?.(taskId, [blob.sha256]);
      files.push({ path: relative, sha256: blob.sha256, size: blob.size });
      local.push({ path: relative, localPath, sha256: blob.sha256, size: blob.size });
    }
    return { files, local };
  }

  /** Load the servable and run it once on an input of the declared shape. */
  private async warmUp(document: PublishedMetadata, files: LocalFile[]): Promise<string> {
    const runtime = this.options.warmUpRuntimes?.get(document.servable.type) ?? this.options.manager.runtimeFor(document.servable.type);
    const method = document.servable.methods.run;
    const declaredExample = method.method_details?.example_inputs as unknown;
    const example = declaredExample ?? exampleInputs(method);
    const guessed = declaredExample === undefined && exampleIsGuess(method);
    const servable = await runtime.load(document, files);
    try {
      const started = performance.now();
      const input = decodeInputs(method, servable.io, example);
      try {
        await servable.run(input, { method: 'run', deadline: Date.now() + 120_000 });
      } catch (error) {
        // Publisher code may rightly refuse made-up inputs (an empty string, a window of one sample,
        // a sample rate of 0); a model that cannot run on an input whose every dimension it fixes is broken.
        if (servable.io === 'json' || guessed) {
          return `loaded; a run on a guessed example input failed (${toHubError(error).message}); declare servable.methods.run.method_details.example_inputs for a real warm-up`;
        }
        throw error;
      }
      return `loaded and ran an example input in ${(performance.now() - started).toFixed(1)} ms`;
    } finally {
      await servable.dispose();
    }
  }
}

function describeMethod(document: PublishedMetadata): string {
  const method = document.servable.methods.run;
  const describe = (type: typeof method.input): string => {
    if (type.type === 'ndarray') return `${type.dtype}[${type.shape.map((d) => d ?? '?').join(',')}]`;
    if (type.type === 'dict') return `{${Object.entries(type.properties).map(([k, v]) => `${k}: ${describe(v)}`).join(', ')}}`;
    return type.type;
  };
  return `run(${describe(method.input)}) -> ${describe(method.output)}`;
}
