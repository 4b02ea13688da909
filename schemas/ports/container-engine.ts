/**
 * Where servable containers come from. The lifecycle is in the types (testcontainers'
 * `GenericContainer` → `StartedGenericContainer`): an engine builds or finds a `ServableImage`;
 * starting one gives a `StartedServableContainer` that is already ready (its `/v2/health/ready`
 * answered 200) and that is stopped with `stop()` or `await using`.
 *
 * Three adapters implement it: `DockerContainerEngine` (dockerode; isolated, limited containers),
 * `SwarmContainerEngine` (each container a Docker Swarm service) and `ProcessContainerEngine` (the same servable runner as a local child process, no isolation: for
 * trusted models only).
 */
import type { Readable } from 'node:stream';
import { HubError } from '../errors.ts';
import type { BackendHealth } from './blob-store.ts';

/** Labels put on everything the hub creates, so it can be found and cleaned up. */
export const LABELS = {
  owner: 'modelhub.owner',
  name: 'modelhub.name',
  version: 'modelhub.version',
  instance: 'modelhub.instance',
  /** `base` for the hub's cached base images, `servable` for built servable images. */
  role: 'modelhub.role',
  /** The recipe a base image was built from; a different recipe means a rebuild. */
  recipe: 'modelhub.recipe',
} as const;

export type ImageLabels = Record<string, string>;

/** The port every servable container listens on inside its image. */
export const SERVABLE_PORT = 8080;

export interface ResourceLimits {
  memoryBytes: number;
  /** CPUs as a fraction, e.g. 0.5 or 2. */
  cpus: number;
  pids: number;
}

export const DEFAULT_LIMITS: ResourceLimits = { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 128 };

export interface ServableImage {
  /** The tag it was built or imported under, e.g. `modelhub/base:bookworm`. */
  readonly ref: string;
  readonly id: string;
  readonly labels: ImageLabels;
}

export interface BuildImageRequest {
  /** A folder holding a `Dockerfile` and everything it copies. */
  contextDir: string;
  tag: string;
  labels: ImageLabels;
  /** Each line of build output, as it comes (the publish task's log). */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ImportRootfsRequest {
  /** A tar stream of a root file system (what `docker import -` reads). */
  rootfs: Readable;
  tag: string;
  labels: ImageLabels;
  /** Dockerfile instructions applied on import (`ENV`, `CMD`, ...). */
  changes?: string[];
  onLog?: (line: string) => void;
}

export interface StartContainerRequest {
  image: ServableImage;
  labels: ImageLabels;
  limits?: ResourceLimits;
  /** How long to wait for `/v2/health/ready` before giving up and removing the container. */
  readyTimeoutMs: number;
  env?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ContainerExit {
  /** Exit code where known (137 after SIGKILL, for example). */
  code: number | null;
  reason: string;
}

export interface StartedServableContainer extends AsyncDisposable {
  readonly id: string;
  /** Base URL of the servable runner, e.g. `http://172.18.0.2:8080`. */
  readonly url: string;
  readonly image: ServableImage;
  /** Resolves when the container ends without `stop()` having been asked: a crash or a kill. */
  readonly exited: Promise<ContainerExit>;
  /** One readiness probe (`GET /v2/health/ready`), false on any failure. */
  healthy(timeoutMs?: number): Promise<boolean>;
  /** The last lines of the container's output, for error messages. */
  logs(tailLines?: number): Promise<string>;
  /** Stops and removes the container; safe to call twice. */
  stop(): Promise<void>;
}

export interface GcRequest {
  /** Only what this hub instance created. */
  instance: string;
  /**
   * Containers to keep (the pool's live ones); every other labelled container is removed. 'all'
   * keeps every one: a running hub owns them, and only it knows which are in use.
   */
  keepContainers?: ReadonlySet<string> | 'all';
  /** Whether a servable image is still wanted; unwanted ones are removed. Base images are kept. */
  keepImage?: (labels: ImageLabels) => boolean;
}

export interface GcReport {
  containers: string[];
  images: string[];
}

export interface ContainerEngine {
  readonly kind: 'docker' | 'swarm' | 'process';
  /** Whether containers are isolated (limits, no network, non-root); false for child processes. */
  readonly isolated: boolean;
  health(): Promise<BackendHealth>;
  findImage(ref: string): Promise<ServableImage | undefined>;
  /** Builds a context; throws IMAGE_BUILD_FAILED with the failing line on an `errorDetail`. */
  build(request: BuildImageRequest): Promise<ServableImage>;
  importRootfs(request: ImportRootfsRequest): Promise<ServableImage>;
  removeImage(ref: string): Promise<void>;
  /** Starts a container and waits until it is ready; NOT_READY (container removed) after the timeout. */
  start(request: StartContainerRequest): Promise<StartedServableContainer>;
  gc(request: GcRequest): Promise<GcReport>;
  close(): Promise<void>;
}

/**
 * Polls `GET {url}/v2/health/ready` until it answers 200. Gives up with NOT_READY when the
 * deadline passes or `exited` settles first (the program died while starting), naming which.
 */
export async function waitForReady(
  url: string,
  options: { timeoutMs: number; exited?: Promise<ContainerExit>; logs?: () => Promise<string>; what: string; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let exit: ContainerExit | undefined;
  void options.exited?.then((value) => {
    exit = value;
  });
  let lastProblem = 'no answer yet';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    if (options.signal?.aborted) throw new HubError('NOT_READY', `${options.what}: start cancelled`);
    if (exit) {
      const tail = options.logs ? await options.logs().catch(() => '') : '';
      throw new HubError('NOT_READY', `${options.what} exited before it became ready (${exit.reason})${tail ? `; last output:\n${tail}` : ''}`);
    }
    try {
      const reply = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(Math.max(250, Math.min(2000, deadline - Date.now()))) });
      await reply.body?.cancel();
      if (reply.status === 200) return;
      lastProblem = `/v2/health/ready answered ${reply.status}`;
    } catch (error) {
      lastProblem = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    }
    if (Date.now() + delay > deadline) {
      const tail = options.logs ? await options.logs().catch(() => '') : '';
      throw new HubError('NOT_READY', `${options.what} did not become ready within ${Math.round(options.timeoutMs / 1000)} s (${lastProblem})${tail ? `; last output:\n${tail}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** One health check of a started runner: whether `/v2/health/ready` answers 200 in time. */
export async function probeReady(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const reply = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await reply.body?.cancel();
    return reply.status === 200;
  } catch {
    return false;
  }
}
