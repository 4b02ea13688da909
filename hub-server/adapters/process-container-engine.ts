/**
 * The embedded adapter of the container port: the same servable runner, as a local child process
 * of the hub, with NO isolation (no limits beyond the process's own, full network and file-system
 * access as the hub's user). For trusted models only — a laptop, a CI job. An "image" is a copy of
 * the build context under `root`; only runner-based contexts (python, sklearn, torch) can run:
 * a generic container's Dockerfile needs MODELHUB_CONTAINERS=docker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import {
  LABELS,
  probeReady,
  waitForReady,
  type BuildImageRequest,
  type ContainerEngine,
  type ContainerExit,
  type GcReport,
  type GcRequest,
  type ImageLabels,
  type ServableImage,
  type StartContainerRequest,
  type StartedServableContainer,
} from '../../schemas/ports/container-engine.ts';

export interface ProcessEngineOptions {
  /** Where built "images" (copies of build contexts) live, e.g. `<MODELHUB_DATA>/process-images`. */
  root: string;
  /** The interpreter for `{python}` in a context's manifest (MODELHUB_PYTHON). */
  python?: string;
  /**
   * Told of each runner process started; answers what to call once it exited. The hub records them
   * so that a hub started after a crash reaps runners that outlived their hub (worker-pid-files.ts).
   */
  trackProcess?: (pid: number | undefined) => () => Promise<void>;
}

interface ImageRecord {
  ref: string;
  labels: ImageLabels;
  command: string[];
}

const MANIFEST = 'modelhub-process.json';

const dirName = (ref: string) => ref.replace(/[^a-zA-Z0-9._-]+/g, '_');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export class ProcessContainerEngine implements ContainerEngine {
  readonly kind = 'process' as const;
  readonly isolated = false;
  private readonly root: string;
  private readonly python: string;
  private readonly trackProcess?: (pid: number | undefined) => () => Promise<void>;
  private readonly running = new Map<string, { child: ChildProcess; labels: ImageLabels; stop: () => Promise<void> }>();
  private counter = 0;

  constructor(options: ProcessEngineOptions) {
    this.root = path.resolve(options.root);
    this.python = options.python ?? '/usr/bin/python3';
    this.trackProcess = options.trackProcess;
  }

  async health(): Promise<BackendHealth> {
    return { ok: true, backend: 'process', detail: 'child processes without isolation (trusted models only)' };
  }

  private imageDir(ref: string): string {
    return path.join(this.root, dirName(ref));
  }

  async findImage(ref: string): Promise<ServableImage | undefined> {
    try {
      const record = JSON.parse(await readFile(path.join(this.imageDir(ref), 'image.json'), 'utf8')) as ImageRecord;
      return { ref, id: `process:${dirName(ref)}`, labels: record.labels };
    } catch {
      return undefined;
    }
  }

  async build(request: BuildImageRequest): Promise<ServableImage> {
    const log = request.onLog ?? (() => {});
    let manifest: { command?: string[] };
    try {
      manifest = JSON.parse(await readFile(path.join(request.contextDir, MANIFEST), 'utf8')) as { command?: string[] };
    } catch {
      throw new HubError(
        'RUNTIME_UNAVAILABLE',
        'this hub runs servables as local processes (MODELHUB_CONTAINERS=process), which cannot build a Dockerfile; a generic container servable needs MODELHUB_CONTAINERS=docker',
      );
    }
    if (!Array.isArray(manifest.command) || manifest.command.length === 0) {
      throw new HubError('IMAGE_BUILD_FAILED', `${MANIFEST} has no command`);
    }
    const target = this.imageDir(request.tag);
    await rm(target, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
    await cp(request.contextDir, path.join(target, 'context'), { recursive: true });
    const record: ImageRecord = { ref: request.tag, labels: request.labels, command: manifest.command };
    await writeFile(path.join(target, 'image.json'), JSON.stringify(record));
    log(`process engine: copied the build context to ${target} (no isolation: trusted models only)`);
    return { ref: request.tag, id: `process:${dirName(request.tag)}`, labels: request.labels };
  }

  async importRootfs(): Promise<ServableImage> {
    throw new HubError('RUNTIME_UNAVAILABLE', 'the process engine has no images to import into (MODELHUB_CONTAINERS=docker builds base images)');
  }

  async removeImage(ref: string): Promise<void> {
    await rm(this.imageDir(ref), { recursive: true, force: true });
  }

  async start(request: StartContainerRequest): Promise<StartedServableContainer> {
    const directory = this.imageDir(request.image.ref);
    let record: ImageRecord;
    try {
      record = JSON.parse(await readFile(path.join(directory, 'image.json'), 'utf8')) as ImageRecord;
    } catch {
      throw new HubError('NOT_READY', `no image ${request.image.ref} on the process engine`);
    }
    const port = await freePort();
    const [command, ...args] = record.command.map((part) => part.replace('{python}', this.python));
    const child = spawn(command!, args, {
      cwd: path.join(directory, 'context'),
      env: {
        ...process.env,
        ...request.env,
        MODELHUB_RUNNER_HOST: '127.0.0.1',
        MODELHUB_RUNNER_PORT: String(port),
        PYTHONDONTWRITEBYTECODE: '1',
        // The runner exits when this process dies (worker.py's die_with_parent).
        MODELHUB_PARENT_PID: String(process.pid),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.trackProcess) {
      const forget = this.trackProcess(child.pid);
      child.once('exit', () => void forget());
      child.once('error', () => void forget());
    }
    const id = `process-${child.pid ?? 'x'}-${++this.counter}`;
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-16_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let stopping = false;
    const ended = new Promise<ContainerExit>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : null), reason: signal ? `killed (${signal})` : `exit code ${code}` }));
      child.on('error', (error) => resolve({ code: null, reason: error.message }));
    });
    const crashed = new Promise<ContainerExit>((resolve) => {
      void ended.then((exit) => { if (!stopping) resolve(exit); });
    });
    const logs = async (tailLines = 30) => output.trim().split('\n').slice(-tailLines).join('\n');
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      this.running.delete(id);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await ended;
        clearTimeout(timer);
      }
    };
    this.running.set(id, { child, labels: request.labels, stop });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForReady(url, { timeoutMs: request.readyTimeoutMs, exited: crashed, logs: () => logs(), what: `the runner of ${request.image.ref}`, signal: request.signal });
    } catch (error) {
      await stop();
      throw error;
    }
    return {
      id,
      url,
      image: request.image,
      exited: crashed,
      healthy: (timeoutMs = 2000) => probeReady(url, timeoutMs),
      logs,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  }

  /** The pid of a started runner, for tests that kill it. */
  pidOf(id: string): number | undefined {
    return this.running.get(id)?.child.pid;
  }

  async gc(request: GcRequest): Promise<GcReport> {
    const report: GcReport = { containers: [], images: [] };
    const keepAll = request.keepContainers === 'all';
    const keep = request.keepContainers === 'all' ? undefined : request.keepContainers;
    for (const [id, entry] of keepAll ? [] : [...this.running]) {
      if (entry.labels[LABELS.instance] !== request.instance || keep?.has(id)) continue;
      await entry.stop();
      report.containers.push(id);
    }
    const entries = await readdir(this.root).catch(() => [] as string[]);
    for (const entry of entries) {
      const record = await readFile(path.join(this.root, entry, 'image.json'), 'utf8').then((text) => JSON.parse(text) as ImageRecord, () => undefined);
      if (!record || record.labels[LABELS.instance] !== request.instance) continue;
      if (request.keepImage?.(record.labels)) continue;
      await rm(path.join(this.root, entry), { recursive: true, force: true });
      report.images.push(record.ref);
    }
    return report;
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.values()].map((entry) => entry.stop()));
  }
}
