/**
 * The Docker Swarm adapter of the container port (`MODELHUB_CONTAINERS=swarm`). Each container the
 * pool asks for is one Swarm service with one replica, so that the orchestrator places it (on any
 * node that meets the placement constraints), enforces the limits, and runs a health check that
 * takes a task out when its servable stops answering. The pool stays the supervisor, exactly as
 * with `docker`: a task that ends is reported through `exited`, and the pool replaces it (restart
 * condition `none`, so Swarm and the pool never both start a replacement); scaling to zero removes
 * the service.
 *
 * How hubs reach a task: its port 8080 is published in host mode on a port Docker picks, on the
 * node that runs it, and the hub talks to `<node address>:<port>`, which every hub replica that can
 * reach the node can use. The routing mesh (ingress) is not used: it does not answer on the
 * machines this was written on (docs/containers.md). `publish: 'internal'` instead attaches tasks
 * to a swarm-scoped internal bridge network and talks to the task's address on it: no route out,
 * but only a hub on that same node can reach it (a one-node swarm).
 *
 * Images: built and imported on the manager's engine (the inner DockerContainerEngine). With a
 * registry (`MODELHUB_SWARM_REGISTRY`, e.g. Debian's `docker-registry` run as a service on the
 * swarm) every built image is also pushed there and services name the registry's copy, so every
 * node can pull it. Without one, services name the local image: right for a one-node swarm (and
 * nodes that were given the images some other way), and a task on a node without the image fails
 * to start with the engine's "No such image" reason.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
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
  type ImportRootfsRequest,
  type ServableImage,
  type StartContainerRequest,
  type StartedServableContainer,
} from '../../schemas/ports/container-engine.ts';
import { DockerContainerEngine, demuxLogs, followBuildStream } from './docker-container-engine.ts';

export interface SwarmEngineOptions {
  dockerHost?: string;
  /** Placement constraints every service gets, e.g. `node.role==worker`, `node.labels.modelhub==true`. */
  constraints?: string[];
  /** `host`: port published on the task's node (default); `internal`: task address on an internal network. */
  publish?: 'host' | 'internal';
  /** The internal network's name (publish `internal`). */
  networkName?: string;
  /** `host:port` of a registry every node can pull from; built images are pushed there. */
  registry?: string;
  /** The address hubs use for every node instead of the node's own (`Status.Addr`). */
  nodeAddress?: string;
  user?: string;
  /** How often a task's state is polled to notice that it ended. */
  pollMs?: number;
}

/** Swarm's task states after which the task never runs again. */
const ENDED = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

interface SwarmTask {
  ID: string;
  ServiceID?: string;
  NodeID?: string;
  DesiredState?: string;
  Status?: {
    State?: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
    PortStatus?: { Ports?: Array<{ TargetPort?: number; PublishedPort?: number }> };
  };
  NetworksAttachments?: Array<{ Network?: { Spec?: { Name?: string } }; Addresses?: string[] }>;
}

/**
 * The health check Swarm runs inside each task: `GET /v2/health/ready` over bash's /dev/tcp, since
 * servable images carry no curl or wget. An image without bash counts as healthy (the hub's own
 * readiness probes still apply to it).
 */
const HEALTH_SCRIPT = [
  'command -v bash >/dev/null 2>&1 || exit 0',
  `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${SERVABLE_PORT} && printf "GET /v2/health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n" >&3 && head -n 1 <&3 | grep -q " 200 "'`,
].join('; ');

function backendError(error: unknown, what: string): HubError {
  if (error instanceof HubError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
    return new HubError('BACKEND_UNAVAILABLE', `the Docker Swarm manager cannot be reached (${code}) while trying to ${what}`, { cause: error });
  }
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 503) {
    return new HubError('BACKEND_UNAVAILABLE', `Docker Swarm: ${what}: this engine is not a swarm manager (docker swarm init)`, { cause: error });
  }
  return new HubError('INTERNAL', `Docker Swarm: ${what}: ${(error as Error).message}`, { cause: error });
}

/** Service names: letters, digits and dashes, at most 63 characters. */
function serviceName(labels: Record<string, string>): string {
  const clean = (value: string | undefined) => (value ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const base = ['modelhub', clean(labels[LABELS.owner]), clean(labels[LABELS.name]), `v${clean(labels[LABELS.version])}`].filter((part) => part !== '' && part !== 'v').join('-');
  return `${base.slice(0, 55).replace(/-+$/, '')}-${randomBytes(3).toString('hex')}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class SwarmContainerEngine implements ContainerEngine {
  readonly kind = 'swarm' as const;
  readonly isolated = true;
  readonly docker: Docker;
  /** Builds, imports and image look-ups happen on the manager's own engine. */
  readonly images: DockerContainerEngine;
  private readonly constraints: string[];
  private readonly publish: 'host' | 'internal';
  private readonly networkName: string;
  private readonly registry?: string;
  private readonly nodeAddress?: string;
  private readonly user: string;
  private readonly pollMs: number;
  private readonly nodeAddresses = new Map<string, Promise<string>>();
  private networkReady?: Promise<void>;

  constructor(options: SwarmEngineOptions = {}) {
    this.images = new DockerContainerEngine({ dockerHost: options.dockerHost });
    this.docker = this.images.docker;
    this.constraints = options.constraints ?? [];
    this.publish = options.publish ?? 'host';
    this.networkName = options.networkName ?? 'modelhub-swarm-servables';
    this.registry = options.registry?.replace(/\/+$/, '') || undefined;
    this.nodeAddress = options.nodeAddress || undefined;
    this.user = options.user ?? '10001:10001';
    this.pollMs = options.pollMs ?? 250;
  }

  async health(): Promise<BackendHealth> {
    try {
      const info = (await this.docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; Nodes?: number } };
      const swarm = info.Swarm;
      if (swarm?.LocalNodeState !== 'active') return { ok: false, backend: 'swarm', detail: `this Docker engine is not in a swarm (state ${swarm?.LocalNodeState ?? 'unknown'}); run docker swarm init` };
      if (!swarm.ControlAvailable) return { ok: false, backend: 'swarm', detail: 'this Docker engine is a swarm worker; DOCKER_HOST must name a manager' };
      return { ok: true, backend: 'swarm', detail: `Docker Swarm manager, ${swarm.Nodes ?? '?'} node(s)${this.registry ? `, registry ${this.registry}` : ''}` };
    } catch (error) {
      return { ok: false, backend: 'swarm', detail: backendError(error, 'answer an info request').message };
    }
  }

  findImage(ref: string): Promise<ServableImage | undefined> {
    return this.images.findImage(ref);
  }

  async build(request: BuildImageRequest): Promise<ServableImage> {
    return this.distribute(await this.images.build(request), request.onLog);
  }

  async importRootfs(request: ImportRootfsRequest): Promise<ServableImage> {
    return this.distribute(await this.images.importRootfs(request), request.onLog);
  }

  removeImage(ref: string): Promise<void> {
    return this.images.removeImage(ref);
  }

  /** The name services use for an image: its copy in the registry, or the local tag. */
  serviceImage(image: ServableImage): string {
    return this.registry ? `${this.registry}/${image.ref}` : image.ref;
  }

  /** Pushes a built image to the swarm's registry (when there is one), so every node can pull it. */
  private async distribute(image: ServableImage, onLog?: (line: string) => void): Promise<ServableImage> {
    if (!this.registry) return image;
    const target = this.serviceImage(image);
    const colon = target.lastIndexOf(':');
    const [repo, tag] = colon > target.lastIndexOf('/') ? [target.slice(0, colon), target.slice(colon + 1)] : [target, 'latest'];
    try {
      await this.docker.getImage(image.id).tag({ repo, tag });
      // The engine insists on an X-Registry-Auth header even for a registry without accounts.
      const stream = (await this.docker.getImage(target).push({ authconfig: { serveraddress: this.registry } } as never)) as unknown as Readable;
      await followBuildStream(stream, onLog ?? (() => {}));
    } catch (error) {
      if (error instanceof HubError) throw new HubError('IMAGE_BUILD_FAILED', `pushing ${target} to the swarm's registry failed: ${error.message}`);
      throw backendError(error, `push ${target} to the registry ${this.registry}`);
    }
    onLog?.(`pushed ${target}`);
    return image;
  }

  private ensureNetwork(): Promise<void> {
    this.networkReady ??= (async () => {
      const existing = await this.docker.listNetworks({ filters: { name: [this.networkName] } });
      if (existing.some((network) => network.Name === this.networkName)) return;
      try {
        // Swarm-scoped, so services can attach to it; internal, so tasks have no route out.
        await this.docker.createNetwork({ Name: this.networkName, Driver: 'bridge', Scope: 'swarm', Internal: true, Labels: { [LABELS.role]: 'network' } } as Docker.NetworkCreateOptions);
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 409) throw error;
      }
    })().catch((error: unknown) => {
      this.networkReady = undefined;
      throw backendError(error, `create the network ${this.networkName}`);
    });
    return this.networkReady;
  }

  private addressOf(nodeId: string): Promise<string> {
    if (this.nodeAddress) return Promise.resolve(this.nodeAddress);
    let address = this.nodeAddresses.get(nodeId);
    if (!address) {
      address = this.docker.getNode(nodeId).inspect().then((node: { Status?: { Addr?: string } }) => {
        const addr = node.Status?.Addr;
        // A node that advertises no usable address is the manager itself, seen from here.
        return !addr || addr === '0.0.0.0' ? '127.0.0.1' : addr;
      });
      address.catch(() => this.nodeAddresses.delete(nodeId));
      this.nodeAddresses.set(nodeId, address);
    }
    return address;
  }

  private async tasks(serviceId: string): Promise<SwarmTask[]> {
    return (await this.docker.listTasks({ filters: { service: [serviceId] } })) as SwarmTask[];
  }

  async start(request: StartContainerRequest): Promise<StartedServableContainer> {
    const limits = request.limits ?? DEFAULT_LIMITS;
    const internal = this.publish === 'internal';
    if (internal) await this.ensureNetwork();
    const name = serviceName(request.labels);
    const what = `the service ${name} (${request.image.ref})`;
    const labels = { ...request.labels, [LABELS.role]: request.labels[LABELS.role] ?? 'servable' };
    const spec: Docker.CreateServiceOptions = {
      Name: name,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: this.serviceImage(request.image),
          // On the containers too, so that `modelhub gc` and `docker ps --filter label=` find them.
          Labels: labels,
          User: this.user,
          Env: Object.entries({ HOME: '/tmp', PYTHONDONTWRITEBYTECODE: '1', ...request.env }).map(([k, v]) => `${k}=${v}`),
          ReadOnly: true,
          // Like `docker rm --force`: a servable's program is PID 1 and would ignore SIGTERM, so a
          // scale-down would otherwise wait out the 10 s grace period.
          StopSignal: 'SIGKILL',
          Mounts: [{ Type: 'tmpfs', Source: '', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } }],
          CapabilityDrop: ['ALL'],
          HealthCheck: {
            Test: ['CMD-SHELL', HEALTH_SCRIPT],
            Interval: 2e9,
            Timeout: 2e9,
            Retries: 3,
            StartPeriod: Math.round(request.readyTimeoutMs * 1e6),
          },
        },
        Resources: { Limits: { MemoryBytes: limits.memoryBytes, NanoCPUs: Math.round(limits.cpus * 1e9), Pids: limits.pids } as Docker.ResourceLimits },
        // The pool replaces a task that ends; Swarm restarting it too would start two.
        RestartPolicy: { Condition: 'none' },
        Placement: { Constraints: this.constraints },
        ...(internal ? { Networks: [{ Target: this.networkName }] } : {}),
      },
      Mode: { Replicated: { Replicas: 1 } },
      // An operator's `docker service update --image` rolls tasks over without a gap.
      UpdateConfig: { Parallelism: 1, Order: 'start-first', FailureAction: 'rollback' },
      EndpointSpec: internal ? { Mode: 'dnsrr' } : { Ports: [{ Protocol: 'tcp', TargetPort: SERVABLE_PORT, PublishMode: 'host' }] },
    };
    let service: Docker.Service;
    try {
      service = await this.docker.createService(spec);
    } catch (error) {
      throw backendError(error, `create a service from ${request.image.ref}`);
    }

    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        await service.remove();
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw backendError(error, `remove the service ${name}`);
      }
      // Removing a service stops its tasks asynchronously: wait for its containers to be gone, so
      // that "stopped" means stopped (a scale to zero leaves nothing running).
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const left = await this.docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.id=${service.id}`] } }).catch(() => []);
        if (left.length === 0) return;
        await sleep(100);
      }
    };
    const logs = async (tailLines = 30) => {
      const output = (await service.logs({ stdout: true, stderr: true, tail: tailLines })) as unknown as Buffer | Readable;
      return demuxLogs(Buffer.isBuffer(output) ? output : await collect(output)).trim();
    };

    try {
      const task = await this.waitForRunningTask(service.id, what, request);
      const url = await this.taskUrl(task, what, request.readyTimeoutMs);
      const exited = new Promise<ContainerExit>((resolve) => {
        const poll = async () => {
          while (!stopping) {
            await sleep(this.pollMs);
            if (stopping) return;
            const current = await this.tasks(service.id).then((tasks) => tasks.find((candidate) => candidate.ID === task.ID), () => task);
            // Waits for the end state itself (not the desired state), which carries the reason.
            if (ENDED.has(current?.Status?.State ?? 'remove')) {
              if (!stopping) resolve(exitOf(current));
              return;
            }
          }
        };
        void poll();
      });
      // Being scheduled and answering /v2/health/ready each get the ready time, as a Docker
      // container's create and start are not counted against it either.
      await waitForReady(url, { timeoutMs: request.readyTimeoutMs, exited, logs: () => logs(), what, signal: request.signal });
      return {
        id: task.Status?.ContainerStatus?.ContainerID ?? task.ID,
        url,
        image: request.image,
        exited,
        healthy: (timeoutMs = 2000) => probeReady(url, timeoutMs),
        logs,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } catch (error) {
      await stop().catch(() => {});
      throw backendError(error, `start ${what}`);
    }
  }

  /**
   * Waits until the service's task runs. A task Swarm cannot place stays `pending` with the reason
   * (`no suitable node (scheduling constraints not satisfied on 1 node)`): that reason is the error
   * when the ready time runs out; a task that fails before it runs (no such image) fails at once.
   */
  private async waitForRunningTask(serviceId: string, what: string, request: StartContainerRequest): Promise<SwarmTask> {
    const deadline = Date.now() + request.readyTimeoutMs;
    let lastState = 'no task yet';
    for (;;) {
      if (request.signal?.aborted) throw new HubError('NOT_READY', `${what}: start cancelled`);
      const tasks = await this.tasks(serviceId);
      const task = tasks[0];
      if (task) {
        const state = task.Status?.State ?? 'new';
        // A task with a health check stays `starting` until Swarm's first check passes (2 s):
        // the hub probes readiness itself from the moment the container runs.
        if ((state === 'running' || state === 'starting') && task.Status?.ContainerStatus?.ContainerID) return task;
        if (ENDED.has(state)) throw new HubError('NOT_READY', `${what} ended before it ran (${exitOf(task).reason})`);
        lastState = `task ${state}${task.Status?.Err ? `: ${task.Status.Err}` : ''}`;
      }
      // The same words as a runner that never answers: either way the servable was not ready in time.
      if (Date.now() >= deadline) throw new HubError('NOT_READY', `${what} did not become ready within ${Math.round(request.readyTimeoutMs / 1000)} s (${lastState})`);
      await sleep(100);
    }
  }

  private async taskUrl(task: SwarmTask, what: string, readyTimeoutMs: number): Promise<string> {
    if (this.publish === 'internal') {
      const attachment = task.NetworksAttachments?.find((candidate) => candidate.Network?.Spec?.Name === this.networkName);
      const address = attachment?.Addresses?.[0]?.split('/')[0];
      if (address) return `http://${address}:${SERVABLE_PORT}`;
      // Bridge attachments are not listed on the task: ask the container (it runs on this node).
      const container = await this.docker.getContainer(task.Status!.ContainerStatus!.ContainerID!).inspect();
      const ip = container.NetworkSettings.Networks[this.networkName]?.IPAddress;
      if (!ip) throw new HubError('NOT_READY', `${what} has no address on ${this.networkName}`);
      return `http://${ip}:${SERVABLE_PORT}`;
    }
    const published = (candidate?: SwarmTask) => candidate?.Status?.PortStatus?.Ports?.find((item) => item.TargetPort === SERVABLE_PORT)?.PublishedPort;
    let port = published(task);
    if (!port) {
      // Swarm fills in the task's published port only once it is `running`, which with a health
      // check means after the first check passed. The container knows it from the start: ask it
      // when it runs on the node this hub talks to; otherwise wait for Swarm.
      port = await this.docker.getContainer(task.Status!.ContainerStatus!.ContainerID!).inspect().then(
        (container) => Number(container.NetworkSettings.Ports?.[`${SERVABLE_PORT}/tcp`]?.[0]?.HostPort) || undefined,
        () => undefined,
      );
    }
    const until = Date.now() + readyTimeoutMs;
    while (!port && Date.now() < until) {
      await sleep(250);
      const current = (await this.tasks(task.ServiceID ?? '')).find((candidate) => candidate.ID === task.ID);
      if (current && ENDED.has(current.Status?.State ?? '')) throw new HubError('NOT_READY', `${what} ended before it was ready (${exitOf(current).reason})`);
      port = published(current);
    }
    if (!port) throw new HubError('NOT_READY', `${what} runs but Swarm published no port for it`);
    return `http://${await this.addressOf(task.NodeID ?? '')}:${port}`;
  }

  async gc(request: GcRequest): Promise<GcReport> {
    const report: GcReport = { containers: [], images: [] };
    try {
      if (request.keepContainers !== 'all') {
        const keep = request.keepContainers;
        const services = await this.docker.listServices({ filters: { label: [`${LABELS.instance}=${request.instance}`] } });
        for (const info of services) {
          const containers = (await this.tasks(info.ID)).flatMap((task) => (task.Status?.ContainerStatus?.ContainerID ? [task.Status.ContainerStatus.ContainerID] : []));
          if (containers.some((id) => keep?.has(id))) continue;
          await this.docker.getService(info.ID).remove().catch((error: unknown) => {
            if ((error as { statusCode?: number }).statusCode !== 404) throw error;
          });
          report.containers.push(...(containers.length > 0 ? containers : [info.ID]));
        }
      }
    } catch (error) {
      throw backendError(error, 'collect garbage');
    }
    // Images (and any stray plain containers) are the manager engine's, as with `docker`.
    const local = await this.images.gc({ ...request, keepContainers: 'all' });
    report.images.push(...local.images);
    return report;
  }

  async close(): Promise<void> {}
}

function exitOf(task: SwarmTask | undefined): ContainerExit {
  const code = task?.Status?.ContainerStatus?.ExitCode ?? null;
  const err = task?.Status?.Err ?? '';
  if (/unhealthy/i.test(err)) return { code, reason: `failed its Swarm health check (${err})` };
  if (code === 137) return { code, reason: 'killed (SIGKILL)' };
  if (code !== null && code !== 0) return { code, reason: `exit code ${code}` };
  return { code, reason: err || task?.Status?.Message || `task ${task?.Status?.State ?? 'removed'}` };
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
