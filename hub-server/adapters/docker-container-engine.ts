/**
 * The Docker adapter of the container port: dockerode against the Docker Engine API (socket from
 * `DOCKER_HOST` or the default). Containers run isolated: memory, CPU and pid limits, all
 * capabilities dropped, no new privileges, a non-root user, a read-only root file system with a
 * small tmpfs at /tmp, and no network except the servable port the hub talks to — on an
 * `--internal` bridge network by default (no route out), or published on 127.0.0.1 only.
 */
import { readdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import * as tar from 'tar';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth } from '../../schemas/ports/blob-store.ts';
import {
  DEFAULT_LIMITS,
  LABELS,
  SERVABLE_PORT,
  probeReady,
  waitForReady,
  type BuildImageRequest,
  type ContainerEngine,
  type ContainerExit,
  type GcReport,
  type GcRequest,
  type ImageLabels,
  type ImportRootfsRequest,
  type ServableImage,
  type StartContainerRequest,
  type StartedServableContainer,
} from '../../schemas/ports/container-engine.ts';

export interface DockerEngineOptions {
  /** `unix:///path/docker.sock` or `tcp://host:port`; DOCKER_HOST or the default socket otherwise. */
  dockerHost?: string;
  /**
   * `internal`: containers join an internal bridge network (no way out) and the hub talks to their
   * address; needs the hub on the Docker host (Linux). `published`: the default bridge, port
   * published on 127.0.0.1 only (works with Docker Desktop; containers can reach out).
   */
  network?: 'internal' | 'published';
  networkName?: string;
  /** The user servable programs run as. */
  user?: string;
}

/** Builds a dockerode client from `DOCKER_HOST` (unix:// or tcp://) or the default socket. */
export function dockerClient(dockerHost = process.env.DOCKER_HOST): Docker {
  if (!dockerHost) return new Docker();
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

// eslint-disable-next-line no-control-regex
const ANSI_ESCAPES = /\x1b\[[0-9;]*[A-Za-z]/g;

interface StreamMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string };
}

/**
 * Reads a Docker JSON-lines progress stream, handing each line of output to `onLine`; rejects
 * with the `errorDetail` message when the daemon reports one (a failed RUN, a missing base image).
 */
export function followBuildStream(stream: Readable, onLine: (line: string) => void): Promise<{ imageId?: string }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let partial = '';
    let imageId: string | undefined;
    let failure: string | undefined;
    const emit = (text: string) => {
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        // The classic builder colours a step's stderr; a task log wants plain text.
        const line = raw.replace(ANSI_ESCAPES, '').trimEnd();
        if (line.trim() !== '') onLine(line);
      }
    };
    const handle = (raw: string) => {
      if (raw.trim() === '') return;
      let message: StreamMessage;
      try {
        message = JSON.parse(raw) as StreamMessage;
      } catch {
        emit(`${raw}\n`);
        return;
      }
      if (message.stream) emit(message.stream);
      else if (message.status) emit(`${message.id ? `${message.id}: ` : ''}${message.status}${message.progress ? ` ${message.progress}` : ''}\n`);
      if (message.aux?.ID) imageId = message.aux.ID;
      if (message.errorDetail || message.error) {
        failure = (message.errorDetail?.message ?? message.error ?? 'unknown build error').trim();
        emit(`ERROR: ${failure}\n`);
      }
    };
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let at: number;
      while ((at = buffer.indexOf('\n')) >= 0) {
        handle(buffer.slice(0, at));
        buffer = buffer.slice(at + 1);
      }
    });
    stream.on('error', (error) => reject(error));
    stream.on('end', () => {
      handle(buffer);
      const rest = partial.replace(ANSI_ESCAPES, '').trimEnd();
      if (rest.trim() !== '') onLine(rest);
      if (failure !== undefined) reject(new HubError('IMAGE_BUILD_FAILED', failure));
      else resolve({ imageId });
    });
  });
}

function backendError(error: unknown, what: string): HubError {
  if (error instanceof HubError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
    return new HubError('BACKEND_UNAVAILABLE', `the Docker engine cannot be reached (${code}) while trying to ${what}`, { cause: error });
  }
  return new HubError('INTERNAL', `Docker: ${what}: ${(error as Error).message}`, { cause: error });
}

const statusCode = (error: unknown): number | undefined => (error as { statusCode?: number }).statusCode;

export class DockerContainerEngine implements ContainerEngine {
  readonly kind = 'docker' as const;
  readonly isolated = true;
  readonly docker: Docker;
  private readonly network: 'internal' | 'published';
  private readonly networkName: string;
  private readonly user: string;
  private networkReady?: Promise<void>;

  constructor(options: DockerEngineOptions = {}) {
    this.docker = dockerClient(options.dockerHost);
    this.network = options.network ?? 'internal';
    this.networkName = options.networkName ?? 'modelhub-servables';
    this.user = options.user ?? '10001:10001';
  }

  async health(): Promise<BackendHealth> {
    try {
      const version = (await this.docker.version()) as { Version?: string };
      return { ok: true, backend: 'docker', detail: `Docker Engine ${version.Version ?? '?'}` };
    } catch (error) {
      return { ok: false, backend: 'docker', detail: backendError(error, 'answer a version request').message };
    }
  }

  async findImage(ref: string): Promise<ServableImage | undefined> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return { ref, id: info.Id, labels: info.Config?.Labels ?? {} };
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw backendError(error, `inspect image ${ref}`);
    }
  }

  async build(request: BuildImageRequest): Promise<ServableImage> {
    const entries = await readdir(request.contextDir);
    if (!entries.includes('Dockerfile')) throw new HubError('IMAGE_BUILD_FAILED', `no Dockerfile in the build context ${request.contextDir}`);
    const context = tar.create({ cwd: request.contextDir, portable: true }, entries) as unknown as Readable;
    let stream: Readable;
    try {
      stream = (await this.docker.buildImage(context, {
        t: request.tag,
        labels: request.labels,
        rm: true,
        forcerm: true,
        abortSignal: request.signal,
      } as Docker.ImageBuildOptions)) as unknown as Readable;
    } catch (error) {
      throw backendError(error, `build ${request.tag}`);
    }
    await followBuildStream(stream, request.onLog ?? (() => {}));
    const image = await this.findImage(request.tag);
    if (!image) throw new HubError('IMAGE_BUILD_FAILED', `the build of ${request.tag} ended without an image`);
    return image;
  }

  async importRootfs(request: ImportRootfsRequest): Promise<ServableImage> {
    const [repo, tag = 'latest'] = splitRef(request.tag);
    const changes = [...(request.changes ?? []), ...Object.entries(request.labels).map(([key, value]) => `LABEL ${key}=${JSON.stringify(value)}`)];
    let stream: Readable;
    try {
      stream = (await this.docker.importImage(request.rootfs, { repo, tag, changes } as never)) as unknown as Readable;
    } catch (error) {
      throw backendError(error, `import ${request.tag}`);
    }
    await followBuildStream(stream, request.onLog ?? (() => {}));
    const image = await this.findImage(request.tag);
    if (!image) throw new HubError('IMAGE_BUILD_FAILED', `the import of ${request.tag} ended without an image`);
    return image;
  }

  async removeImage(ref: string): Promise<void> {
    try {
      await this.docker.getImage(ref).remove({ force: true });
    } catch (error) {
      if (statusCode(error) !== 404) throw backendError(error, `remove image ${ref}`);
    }
  }

  private ensureNetwork(): Promise<void> {
    this.networkReady ??= (async () => {
      const existing = await this.docker.listNetworks({ filters: { name: [this.networkName] } });
      if (existing.some((network) => network.Name === this.networkName)) return;
      try {
        await this.docker.createNetwork({
          Name: this.networkName,
          Driver: 'bridge',
          Internal: true,
          Labels: { [LABELS.role]: 'network' },
        });
      } catch (error) {
        if (statusCode(error) !== 409) throw error;
      }
    })().catch((error: unknown) => {
      this.networkReady = undefined;
      throw backendError(error, `create the network ${this.networkName}`);
    });
    return this.networkReady;
  }

  async start(request: StartContainerRequest): Promise<StartedServableContainer> {
    const limits = request.limits ?? DEFAULT_LIMITS;
    const internal = this.network === 'internal';
    if (internal) await this.ensureNetwork();
    const portKey = `${SERVABLE_PORT}/tcp`;
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        Image: request.image.id,
        Labels: request.labels,
        User: this.user,
        Env: Object.entries({ HOME: '/tmp', PYTHONDONTWRITEBYTECODE: '1', ...request.env }).map(([k, v]) => `${k}=${v}`),
        ExposedPorts: { [portKey]: {} },
        HostConfig: {
          Memory: limits.memoryBytes,
          MemorySwap: limits.memoryBytes,
          NanoCpus: Math.round(limits.cpus * 1e9),
          PidsLimit: limits.pids,
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          NetworkMode: internal ? this.networkName : 'bridge',
          PortBindings: internal ? undefined : { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
        },
      });
    } catch (error) {
      throw backendError(error, `create a container from ${request.image.ref}`);
    }
    let stopping = false;
    const exited = (async (): Promise<ContainerExit> => {
      const result = (await container.wait({ condition: 'next-exit' })) as { StatusCode?: number };
      const state = await container.inspect().then((info) => info.State).catch(() => undefined);
      const why = state?.OOMKilled ? 'killed: out of memory' : result.StatusCode === 137 ? 'killed (SIGKILL)' : `exit code ${result.StatusCode}`;
      return { code: result.StatusCode ?? null, reason: why };
    })();
    // A stop() we asked for is not a crash: `exited` only settles for the ones we did not ask for.
    const crashed = new Promise<ContainerExit>((resolve) => {
      exited.then((exit) => { if (!stopping) resolve(exit); }, (error: Error) => { if (!stopping) resolve({ code: null, reason: error.message }); });
    });
    const logs = async (tailLines = 30) => {
      const buffer = (await container.logs({ stdout: true, stderr: true, tail: tailLines })) as unknown as Buffer;
      return demuxLogs(buffer).trim();
    };
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        await container.remove({ force: true });
      } catch (error) {
        if (statusCode(error) !== 404 && statusCode(error) !== 409) throw backendError(error, `remove container ${container.id}`);
      }
    };
    try {
      await container.start();
      const info = await container.inspect();
      const url = internal
        ? `http://${info.NetworkSettings.Networks[this.networkName]?.IPAddress}:${SERVABLE_PORT}`
        : `http://127.0.0.1:${info.NetworkSettings.Ports[portKey]?.[0]?.HostPort}`;
      const what = `the container of ${request.image.ref}`;
      await waitForReady(url, { timeoutMs: request.readyTimeoutMs, exited: crashed, logs: () => logs(), what, signal: request.signal });
      return {
        id: container.id,
        url,
        image: request.image,
        exited: crashed,
        healthy: (timeoutMs = 2000) => probeReady(url, timeoutMs),
        logs,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } catch (error) {
      await stop().catch(() => {});
      throw backendError(error, `start a container from ${request.image.ref}`);
    }
  }

  async gc(request: GcRequest): Promise<GcReport> {
    const report: GcReport = { containers: [], images: [] };
    try {
      const keepAll = request.keepContainers === 'all';
      const keep = request.keepContainers === 'all' ? undefined : request.keepContainers;
      const containers = keepAll ? [] : await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${request.instance}`] } });
      for (const info of containers) {
        if (keep?.has(info.Id)) continue;
        await this.docker.getContainer(info.Id).remove({ force: true }).catch((error: unknown) => {
          if (statusCode(error) !== 404) throw error;
        });
        report.containers.push(info.Id);
      }
      const images = await this.docker.listImages({ filters: { label: [`${LABELS.instance}=${request.instance}`, `${LABELS.role}=servable`] } });
      for (const info of images) {
        if (request.keepImage?.(info.Labels ?? {})) continue;
        await this.docker.getImage(info.Id).remove({ force: true }).catch((error: unknown) => {
          if (statusCode(error) !== 404) throw error;
        });
        report.images.push(info.Id);
      }
      // Steps of failed builds stay behind as untagged images; they inherit the base images' role label.
      const dangling = await this.docker.listImages({ filters: { dangling: ['true'], label: [LABELS.role] } });
      for (const info of dangling) {
        const removed = await this.docker.getImage(info.Id).remove().then(() => true, () => false);
        if (removed) report.images.push(info.Id);
      }
    } catch (error) {
      throw backendError(error, 'collect garbage');
    }
    return report;
  }

  async close(): Promise<void> {}
}

function splitRef(ref: string): [string, string | undefined] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

/** Docker multiplexes stdout and stderr in 8-byte-framed chunks when there is no TTY. */
export function demuxLogs(buffer: Buffer): string {
  if (!Buffer.isBuffer(buffer)) return String(buffer);
  const parts: string[] = [];
  let at = 0;
  while (at + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(at + 4);
    parts.push(buffer.subarray(at + 8, at + 8 + size).toString('utf8'));
    at += 8 + size;
  }
  return parts.length > 0 ? parts.join('') : buffer.toString('utf8');
}

export type { ImageLabels };
