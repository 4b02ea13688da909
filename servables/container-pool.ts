/**
 * Warm servable containers for the gateway. Per servable: a minimum kept warm, a maximum, an idle
 * time after which extra containers stop (down to zero when the minimum is 0), bounded concurrency
 * per container, health checks, and replacement after a crash. A request to a cold servable waits
 * for a container to become ready, up to its deadline, instead of failing. Requests are only ever
 * routed to containers whose `/v2/health/ready` answered.
 */
import { HubError } from '../schemas/errors.ts';
import {
  DEFAULT_LIMITS,
  LABELS,
  type ContainerEngine,
  type ContainerExit,
  type GcReport,
  type ImageLabels,
  type ResourceLimits,
  type ServableImage,
  type StartedServableContainer,
} from '../schemas/ports/container-engine.ts';
import type { Static } from '@sinclair/typebox';
import type { InferInput, InferRequest, InferResponse } from '../schemas/v2.ts';

export interface PoolPolicy {
  minWarm: number;
  maxContainers: number;
  /** A container with nothing to do for this long stops (while more than `minWarm` run). */
  idleMs: number;
  concurrencyPerContainer: number;
  /** How long a starting container may take to answer `/v2/health/ready`. */
  readyTimeoutMs: number;
  healthIntervalMs: number;
  /** How long a request without its own deadline waits for a container. */
  defaultDeadlineMs: number;
  /** Requests waiting for a container beyond this are refused (OVERLOADED). */
  maxQueue: number;
  limits: ResourceLimits;
}

export const DEFAULT_POLICY: PoolPolicy = {
  minWarm: 0,
  maxContainers: 2,
  idleMs: 5 * 60_000,
  concurrencyPerContainer: 4,
  readyTimeoutMs: 120_000,
  healthIntervalMs: 15_000,
  defaultDeadlineMs: 120_000,
  maxQueue: 256,
  limits: DEFAULT_LIMITS,
};

/**
 * The v2 documents (schemas/v2.ts) as the pool sends and receives them: tensors in their JSON form,
 * so `data` is always there.
 */
export type V2Tensor = Static<typeof InferInput> & { data: unknown[] };
export type V2InferRequest = Omit<InferRequest, 'inputs'> & { inputs: V2Tensor[] };
export type V2InferResponse = Omit<InferResponse, 'outputs'> & { outputs: V2Tensor[] };

export interface PoolEvent {
  servable: string;
  event: 'starting' | 'ready' | 'start-failed' | 'crashed' | 'unhealthy' | 'idle-stop' | 'stopped';
  container?: string;
  detail?: string;
}

interface Slot {
  state: 'starting' | 'ready' | 'gone';
  container?: StartedServableContainer;
  inflight: number;
  lastUsed: number;
}

interface Waiter {
  wake: () => void;
  fail: (error: HubError) => void;
}

interface Entry {
  key: string;
  model: string;
  image: ServableImage;
  labels: ImageLabels;
  policy: PoolPolicy;
  slots: Slot[];
  waiters: Set<Waiter>;
  lastHealthCheck: number;
  closed: boolean;
}

export interface ServableRegistration {
  image: ServableImage;
  /** owner, name, version labels of the servable (instance is added by the pool). */
  labels: ImageLabels;
  policy?: Partial<PoolPolicy>;
}

export interface InferOptions {
  /** Absolute time in ms since the epoch. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface PoolStats {
  ready: number;
  starting: number;
  inflight: number;
  queued: number;
}

export class ContainerPool {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly defaults: PoolPolicy;

  constructor(
    readonly engine: ContainerEngine,
    private readonly options: { instance: string; defaults?: Partial<PoolPolicy>; onEvent?: (event: PoolEvent) => void },
  ) {
    this.defaults = { ...DEFAULT_POLICY, ...options.defaults };
    this.timer = setInterval(() => void this.tick(), 250);
    this.timer.unref();
  }

  /** Adds a servable (`key` is how callers name it, e.g. `owner/name@3`) and warms its minimum. */
  async register(key: string, registration: ServableRegistration): Promise<void> {
    if (this.entries.has(key)) return;
    const policy = { ...this.defaults, ...registration.policy };
    if (policy.maxContainers < 1 || policy.minWarm > policy.maxContainers || policy.concurrencyPerContainer < 1) {
      throw new HubError('BAD_REQUEST', `pool policy for ${key}: need 1 <= maxContainers, minWarm <= maxContainers, concurrencyPerContainer >= 1`);
    }
    const labels = registration.labels;
    const entry: Entry = {
      key,
      model: `${labels[LABELS.owner] ?? 'servable'}.${labels[LABELS.name] ?? key}`,
      image: registration.image,
      labels: { ...labels, [LABELS.instance]: this.options.instance, [LABELS.role]: 'servable' },
      policy,
      slots: [],
      waiters: new Set(),
      lastHealthCheck: Date.now(),
      closed: false,
    };
    this.entries.set(key, entry);
    const warming = Array.from({ length: policy.minWarm }, () => this.startSlot(entry));
    await Promise.all(warming);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  stats(key: string): PoolStats {
    const entry = this.entries.get(key);
    if (!entry) return { ready: 0, starting: 0, inflight: 0, queued: 0 };
    return {
      ready: entry.slots.filter((slot) => slot.state === 'ready').length,
      starting: entry.slots.filter((slot) => slot.state === 'starting').length,
      inflight: entry.slots.reduce((sum, slot) => sum + slot.inflight, 0),
      queued: entry.waiters.size,
    };
  }

  /** The containers currently serving `key` (for tests and diagnostics). */
  containers(key: string): StartedServableContainer[] {
    return (this.entries.get(key)?.slots ?? []).flatMap((slot) => (slot.state === 'ready' && slot.container ? [slot.container] : []));
  }

  /** Sends one v2 inference request to a ready container of `key`, starting one if needed. */
  async infer(key: string, request: V2InferRequest, options: InferOptions = {}): Promise<V2InferResponse> {
    const entry = this.entries.get(key);
    if (!entry) throw new HubError('SERVABLE_NOT_FOUND', `${key} has no container pool`);
    const deadline = options.deadline ?? Date.now() + entry.policy.defaultDeadlineMs;
    const slot = await this.acquire(entry, deadline, options.signal);
    const container = slot.container!;
    try {
      return await this.send(entry, container, request, deadline, options.signal);
    } finally {
      slot.inflight -= 1;
      slot.lastUsed = Date.now();
      this.wake(entry);
    }
  }

  private async send(entry: Entry, container: StartedServableContainer, request: V2InferRequest, deadline: number, signal?: AbortSignal): Promise<V2InferResponse> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new HubError('DEADLINE_EXCEEDED', `${entry.key}: no time left to run`);
    const signals = [AbortSignal.timeout(remaining), ...(signal ? [signal] : [])];
    let reply: Response;
    let text: string;
    try {
      reply = await fetch(`${container.url}/v2/models/${encodeURIComponent(entry.model)}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.any(signals),
      });
      text = await reply.text();
    } catch (error) {
      if (signal?.aborted) throw new HubError('DEADLINE_EXCEEDED', `${entry.key}: the request was cancelled`);
      if (Date.now() >= deadline) throw new HubError('DEADLINE_EXCEEDED', `${entry.key}: no answer from its container before the deadline`);
      // The connection broke: find out whether the container died under us.
      const exit = await Promise.race([container.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 1500))]);
      const slot = entry.slots.find((candidate) => candidate.container === container);
      if (slot) this.retire(entry, slot, exit ? 'crashed' : 'unhealthy', exit?.reason ?? (error as Error).message);
      const why = exit ? `stopped during the request (${exit.reason})` : `broke the connection (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`;
      throw new HubError('SERVABLE_FAILED', `the container of ${entry.key} ${why}; it is being replaced, later requests go to a new one`, { cause: error });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HubError('SERVABLE_FAILED', `${entry.key} answered ${reply.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    if (reply.ok) return body as V2InferResponse;
    const message = (body as { error?: string }).error ?? text.slice(0, 500);
    if (reply.status === 400 || reply.status === 422) throw new HubError('INVALID_INPUTS', `${entry.key}: ${message}`);
    if (reply.status === 503) throw new HubError('NOT_READY', `${entry.key}: ${message}`);
    throw new HubError('SERVABLE_FAILED', `${entry.key}: ${message}`);
  }

  private pick(entry: Entry): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of entry.slots) {
      if (slot.state !== 'ready' || slot.inflight >= entry.policy.concurrencyPerContainer) continue;
      if (!best || slot.inflight < best.inflight) best = slot;
    }
    return best;
  }

  private async acquire(entry: Entry, deadline: number, signal?: AbortSignal): Promise<Slot> {
    for (;;) {
      if (entry.closed) throw new HubError('SERVABLE_NOT_FOUND', `${entry.key} was unloaded`);
      const slot = this.pick(entry);
      if (slot) {
        slot.inflight += 1;
        slot.lastUsed = Date.now();
        return slot;
      }
      if (entry.waiters.size >= entry.policy.maxQueue) {
        throw new HubError('OVERLOADED', `${entry.key} has ${entry.waiters.size} requests waiting`, { retryAfter: 1 });
      }
      const live = entry.slots.filter((candidate) => candidate.state !== 'gone');
      const starting = live.filter((candidate) => candidate.state === 'starting').length;
      // Start another container when those starting cannot take everyone waiting (this one too).
      if (live.length < entry.policy.maxContainers && starting * entry.policy.concurrencyPerContainer < entry.waiters.size + 1) {
        void this.startSlot(entry);
      }
      await this.waitForWake(entry, deadline, signal);
    }
  }

  private waitForWake(entry: Entry, deadline: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        entry.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        wake: () => { cleanup(); resolve(); },
        fail: (error) => { cleanup(); reject(error); },
      };
      const onAbort = () => waiter.fail(new HubError('DEADLINE_EXCEEDED', `${entry.key}: the request was cancelled while waiting for a container`));
      const timer = setTimeout(() => {
        const state = this.stats(entry.key);
        const why = state.ready === 0 ? 'no container became ready' : 'every container stayed busy';
        waiter.fail(new HubError('DEADLINE_EXCEEDED', `${entry.key}: ${why} before the deadline`));
      }, Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiters.add(waiter);
    });
  }

  private wake(entry: Entry): void {
    for (const waiter of [...entry.waiters]) waiter.wake();
  }

  private async startSlot(entry: Entry): Promise<void> {
    const slot: Slot = { state: 'starting', inflight: 0, lastUsed: Date.now() };
    entry.slots.push(slot);
    this.emit(entry, 'starting');
    try {
      const container = await this.engine.start({
        image: entry.image,
        labels: entry.labels,
        limits: entry.policy.limits,
        readyTimeoutMs: entry.policy.readyTimeoutMs,
      });
      if (entry.closed || slot.state === 'gone') {
        await container.stop();
        return;
      }
      slot.container = container;
      slot.state = 'ready';
      slot.lastUsed = Date.now();
      this.emit(entry, 'ready', container.id);
      void container.exited.then((exit) => this.onExit(entry, slot, exit));
      this.wake(entry);
    } catch (error) {
      slot.state = 'gone';
      entry.slots = entry.slots.filter((candidate) => candidate !== slot);
      const hubError = error instanceof HubError ? error : new HubError('NOT_READY', `${entry.key}: ${(error as Error).message}`, { cause: error });
      this.emit(entry, 'start-failed', undefined, hubError.message);
      // Nobody else is coming for the waiters: tell them why now rather than at their deadline.
      if (!entry.slots.some((candidate) => candidate.state !== 'gone')) {
        for (const waiter of [...entry.waiters]) waiter.fail(hubError);
      }
    }
  }

  private onExit(entry: Entry, slot: Slot, exit: ContainerExit): void {
    if (slot.state === 'gone') return;
    this.retire(entry, slot, 'crashed', exit.reason);
  }

  /** Takes a container out of rotation, removes it, and tops the servable back up to its minimum. */
  private retire(entry: Entry, slot: Slot, event: PoolEvent['event'], detail?: string): void {
    if (slot.state === 'gone') return;
    slot.state = 'gone';
    entry.slots = entry.slots.filter((candidate) => candidate !== slot);
    this.emit(entry, event, slot.container?.id, detail);
    void slot.container?.stop().catch(() => {});
    if (!entry.closed) {
      const live = entry.slots.filter((candidate) => candidate.state !== 'gone').length;
      for (let i = live; i < entry.policy.minWarm; i += 1) void this.startSlot(entry);
      this.wake(entry);
    }
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      for (const slot of [...entry.slots]) {
        const live = entry.slots.filter((candidate) => candidate.state !== 'gone').length;
        if (slot.state === 'ready' && slot.inflight === 0 && now - slot.lastUsed >= entry.policy.idleMs && live > entry.policy.minWarm) {
          this.retire(entry, slot, 'idle-stop');
        }
      }
      if (now - entry.lastHealthCheck >= entry.policy.healthIntervalMs) {
        entry.lastHealthCheck = now;
        for (const slot of entry.slots) {
          if (slot.state !== 'ready' || slot.inflight > 0 || !slot.container) continue;
          const container = slot.container;
          void container.healthy().then((ok) => {
            if (!ok && slot.state === 'ready' && slot.inflight === 0) this.retire(entry, slot, 'unhealthy', 'failed its readiness check');
          });
        }
      }
    }
  }

  private emit(entry: Entry, event: PoolEvent['event'], container?: string, detail?: string): void {
    this.options.onEvent?.({ servable: entry.key, event, container, detail });
  }

  /** Stops a servable's containers and forgets it; waiting requests fail. */
  async unregister(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.closed = true;
    this.entries.delete(key);
    for (const waiter of [...entry.waiters]) waiter.fail(new HubError('SERVABLE_NOT_FOUND', `${key} was unloaded`));
    const slots = entry.slots;
    entry.slots = [];
    await Promise.all(slots.map(async (slot) => {
      slot.state = 'gone';
      await slot.container?.stop();
    }));
    this.emit(entry, 'stopped');
  }

  /**
   * Removes what this instance created and no longer uses: containers not in this pool, and
   * servable images for which `keepImage` answers false (default: images registered here).
   */
  gc(options: { keepImage?: (labels: ImageLabels) => boolean; keepAllContainers?: boolean } = {}): Promise<GcReport> {
    const live = new Set([...this.entries.values()].flatMap((entry) => entry.slots.flatMap((slot) => (slot.container ? [slot.container.id] : []))));
    const keepImage = options.keepImage ?? ((labels: ImageLabels) => [...this.entries.values()].some((entry) =>
      entry.labels[LABELS.owner] === labels[LABELS.owner] && entry.labels[LABELS.name] === labels[LABELS.name] && entry.labels[LABELS.version] === labels[LABELS.version]));
    return this.engine.gc({ instance: this.options.instance, keepContainers: options.keepAllContainers ? 'all' : live, keepImage });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.entries.keys()].map((key) => this.unregister(key)));
  }
}
