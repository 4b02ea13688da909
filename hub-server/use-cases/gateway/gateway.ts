/**
 * The inference gateway: resolves a servable version the caller may see, checks the inputs against
 * its declared method, answers from the result cache where it can, holds back what is over
 * capacity, loads the servable on demand and runs it, with timings and metrics for each request.
 */
import { randomUUID } from 'node:crypto';
import { HubError } from '../../../schemas/errors.ts';
import type { Registry, VersionRecord } from '../../../schemas/ports/registry.ts';
import type { Viewer } from '../../../schemas/ports/viewer.ts';
import type { RemoteRunner, RunCall, RunService, ServableRef } from '../../../schemas/ports/run-service.ts';
import { resolveVisibleVersion } from '../access.ts';
import type { RunReply } from '../../../schemas/api.ts';
import type { ProvenanceRecord } from '../../../schemas/provenance.ts';
import type { Method, PublishedMetadata } from '../../../schemas/metadata.ts';
import type { ServableValue } from '../../../schemas/ports/servable.ts';
import { decodeInputs, encodeOutput } from '../../../schemas/codecs/tensors.ts';
import { batchingPolicy, DynamicBatcher, type BatchingPolicy } from './dynamic-batcher.ts';
import type { HubMetrics } from './metrics.ts';
import { rawBodyKey, ResultCache, resultCacheKey, type CacheOrigin } from './result-cache.ts';
import type { LoadedServable, ServableManager } from './servable-manager.ts';

export interface GatewayOptions {
  registry: Registry;
  manager: ServableManager;
  cache: ResultCache;
  metrics: HubMetrics;
  /** Requests admitted per servable version (running and waiting) before 503 with Retry-After. */
  maxQueue: number;
  defaultDeadlineMs: number;
  /** Provenance records and usage counts (docs/provenance.md); optional. */
  observer?: RunObserver;
}

/** What the gateway tells about runs: provenance for the calls that ask, and usage counts of all. */
export interface RunObserver {
  provenance(context: {
    document: PublishedMetadata;
    method: string;
    inputs: unknown;
    parameters: Record<string, unknown> | undefined;
    output: unknown;
    origin: CacheOrigin;
    caller: string | null;
    /** The compute endpoint (owner/name) the run went to; null: this hub. */
    endpoint?: string | null;
  }): Promise<ProvenanceRecord>;
  /** Every run: computed, from the cache, or failed. Must be cheap (it is on every request). */
  count(servable: string, version: number, caller: string | null | undefined, ok: boolean, totalMs: number): void;
}

/** The run that computed an output `durationMs` long, ending now. */
const originNow = (durationMs: number): CacheOrigin => ({ run_id: randomUUID(), started_at: new Date(Date.now() - durationMs).toISOString(), duration_ms: durationMs });

/** Runs decoded inputs on a loaded servable; the dynamic batcher wraps this. */
export type Executor = (
  entry: LoadedServable,
  method: string,
  input: ServableValue,
  options: { parameters?: Record<string, unknown>; deadline: number; signal?: AbortSignal },
) => Promise<{ output: ServableValue; inferenceMs: number }>;

export const directExecutor: Executor = async (entry, method, input, options) => {
  const started = performance.now();
  const output = await entry.servable.run(input, { method, parameters: options.parameters, deadline: options.deadline, signal: options.signal });
  return { output, inferenceMs: performance.now() - started };
};

/**
 * The default executor: tensor requests to a batchable servable go through the dynamic batcher,
 * everything else runs directly.
 */
export function batchingExecutor(batcher: DynamicBatcher): Executor {
  const policies = new Map<string, BatchingPolicy | undefined>();
  return async (entry, method, input, options) => {
    const policyKey = `${entry.key}#${method}`;
    let policy = policies.get(policyKey);
    if (policy === undefined && !policies.has(policyKey)) {
      policy = batchingPolicy(entry.document, method);
      policies.set(policyKey, policy);
    }
    if (!policy || input.kind !== 'tensors' || entry.servable.io !== 'tensors') return directExecutor(entry, method, input, options);
    return batcher.submit(entry, method, policy, input.tensors, options);
  };
}

/** A servable version's labelled metrics, looked up once: prom-client hashes a label object on every call. */
interface ServableMetrics {
  ok: { inc(): void };
  cached: { inc(): void };
  rejected: { inc(): void };
  invalid: { inc(): void };
  error: { inc(): void };
  queue: { observe(value: number): void };
  inference: { observe(value: number): void };
  total: { observe(value: number): void };
}

export interface ResolvedRun {
  document: PublishedMetadata;
  method: Method;
  methodName: string;
}

export class Gateway implements RunService {
  private readonly admitted = new Map<string, number>();
  /** Each servable's published and withdrawn versions, newest first, until invalidated. */
  private readonly versionLists = new Map<string, VersionRecord[]>();
  private readonly servableMetrics = new Map<string, ServableMetrics>();
  readonly batcher: DynamicBatcher;
  executor: Executor;
  /** Runs for compute endpoints (set by the endpoints plugin). */
  remote?: RemoteRunner;
  /** Set by the provenance plugin (after the gateway is built): who hears of runs. */
  observer: RunObserver | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.batcher = new DynamicBatcher({ metrics: options.metrics });
    this.executor = batchingExecutor(this.batcher);
    this.observer = options.observer;
  }

  /** Forget the cached versions of owner/name (after a publish, a withdrawal or a sharing change). */
  invalidate(owner: string, name: string): void {
    this.versionLists.delete(`${owner}/${name}`);
  }

  /** Forgets every servable's cached versions (changes made elsewhere may have been missed). */
  invalidateAll(): void {
    this.versionLists.clear();
  }

  /**
   * The version document this viewer means (the latest one they may see when `ref.version` is
   * undefined): the one rule of services/access.ts over the servable's cached version list.
   */
  async describe(ref: ServableRef, viewer: Viewer): Promise<PublishedMetadata> {
    const key = `${ref.owner}/${ref.name}`;
    let versions = this.versionLists.get(key);
    if (!versions) {
      versions = await this.options.registry.listVersions(ref.owner, ref.name);
      // Unknown names are not remembered: a client asking for random names must not fill memory.
      if (versions.length > 0) this.versionLists.set(key, versions);
    }
    return resolveVisibleVersion(versions, ref, viewer);
  }

  private metricsOf(servable: string, version: number): ServableMetrics {
    const key = `${servable}@${version}`;
    let children = this.servableMetrics.get(key);
    if (!children) {
      const { requests, queueSeconds, inferenceSeconds, totalSeconds } = this.options.metrics;
      const labels = { servable, version };
      const outcome = (name: string) => requests.labels({ ...labels, outcome: name });
      children = {
        ok: outcome('ok'),
        cached: outcome('cached'),
        rejected: outcome('rejected'),
        invalid: outcome('invalid'),
        error: outcome('error'),
        queue: queueSeconds.labels(labels),
        inference: inferenceSeconds.labels(labels),
        total: totalSeconds.labels(labels),
      };
      this.servableMetrics.set(key, children);
    }
    return children;
  }

  /** Whether results of this servable version are memoized. */
  cacheable(document: PublishedMetadata): boolean {
    return this.options.cache.enabled && document.servable.options?.deterministic !== false;
  }

  /**
   * The key of a request body's exact text for a servable version, when its results are cached: a
   * repeated body is then answered by `cachedReply` before it is even parsed.
   */
  rawKey(document: PublishedMetadata, body: string): string | undefined {
    if (!this.cacheable(document)) return undefined;
    return rawBodyKey(`${document.hub.owner}/${document.hub.name}`, document.hub.version, body);
  }

  /**
   * The whole reply, as JSON text, for a body seen before (by its `rawKey`), or undefined. The
   * caller must have checked that the viewer may run the servable: this only looks up.
   */
  cachedReply(document: PublishedMetadata, rawKey: string, received: number, caller?: string | null): string | undefined {
    const output = this.options.cache.getJsonByAlias(rawKey);
    if (output === undefined) return undefined;
    const servable = `${document.hub.owner}/${document.hub.name}`;
    this.metricsOf(servable, document.hub.version).cached.inc();
    const total = performance.now() - received;
    this.observer?.count(servable, document.hub.version, caller, true, total);
    return `{"output":${output},"servable":${JSON.stringify(servable)},"version":${document.hub.version},"timing":{"queue_ms":0,"inference_ms":0,"total_ms":${total}},"cached":true}`;
  }

  resolveMethod(document: PublishedMetadata, methodName = 'run'): ResolvedRun {
    // Own properties only: "constructor", "__proto__" or "toString" from a request body would
    // otherwise find Object.prototype's members and fail later as a 500.
    const methods = document.servable.methods as Record<string, Method | undefined>;
    const method = Object.hasOwn(methods, methodName) ? methods[methodName] : undefined;
    if (!method) {
      throw new HubError('BAD_REQUEST', `servable ${document.hub.owner}/${document.hub.name} has no method "${methodName}"`, {
        details: { methods: Object.keys(document.servable.methods) },
      });
    }
    return { document, method, methodName };
  }

  /**
   * `rawKey` (from `rawKey()` on the request body's text, by a caller that has it) lets a later
   * request with the same text meet this one's cached result without being parsed.
   */
  async run(ref: ServableRef, call: RunCall, viewer: Viewer, rawKey?: string): Promise<RunReply> {
    const received = performance.now();
    const document = await this.describe(ref, viewer);
    const { method, methodName } = this.resolveMethod(document, call.method);
    const servable = `${document.hub.owner}/${document.hub.name}`;
    const version = document.hub.version;
    const cache = this.options.cache;
    const remote = this.remote ? await this.remote(document, methodName, call, viewer).catch((error: unknown) => {
      if (call.accounted !== false) this.observer?.count(servable, version, viewer.user, false, performance.now() - received);
      throw error;
    }) : undefined;
    if (remote) {
      // Ran on a compute endpoint: counted and, when asked, recorded like a run on the hub, naming the endpoint.
      const { endpoint, ...answer } = remote;
      if (call.accounted !== false) this.observer?.count(servable, version, viewer.user, true, performance.now() - received);
      const reply: RunReply = { ...answer, servable, version, cached: false };
      if (call.provenance) reply.provenance = await this.provenanceOf(document, methodName, call, answer.output, originNow(answer.timing.total_ms), viewer, endpoint ?? null);
      return reply;
    }

    const cacheKey = this.cacheable(document) ? resultCacheKey(servable, version, methodName, call.inputs, call.parameters) : undefined;
    if (cacheKey) {
      const cached = cache.get(cacheKey);
      if (cached !== undefined) {
        if (rawKey) cache.alias(rawKey, cacheKey);
        const total = performance.now() - received;
        this.metricsOf(servable, version).cached.inc();
        if (call.accounted !== false) this.observer?.count(servable, version, viewer.user, true, total);
        const reply: RunReply = { output: cached, servable, version, timing: { queue_ms: 0, inference_ms: 0, total_ms: total }, cached: true };
        // The record of the run that computed the cached output, not of this lookup.
        if (call.provenance) reply.provenance = await this.provenanceOf(document, methodName, call, cached, cache.origin(cacheKey) ?? originNow(0), viewer);
        return reply;
      }
    }

    // `execute` also hands back the runtime's raw value (for the v2 protocol); the reply has only JSON.
    const { output, timing } = await this.execute(document, method, methodName, { ...call, caller: viewer.user ?? null }, received);
    const origin = cacheKey || call.provenance ? originNow(timing.total_ms) : undefined;
    if (cacheKey) {
      cache.set(cacheKey, output, origin);
      if (rawKey) cache.alias(rawKey, cacheKey);
    }
    const reply: RunReply = { output, timing, servable, version, cached: false };
    if (call.provenance && origin) reply.provenance = await this.provenanceOf(document, methodName, call, output, origin, viewer);
    return reply;
  }

  private async provenanceOf(
    document: PublishedMetadata,
    method: string,
    call: RunCall,
    output: unknown,
    origin: CacheOrigin,
    viewer: Viewer,
    endpoint: string | null = null,
  ): Promise<ProvenanceRecord | undefined> {
    const observer = this.observer;
    if (!observer) return undefined;
    return observer.provenance({ document, method, inputs: call.inputs, parameters: call.parameters, output, origin, caller: viewer.user ?? null, endpoint });
  }

  /** Decode, admit, load and run; shared by the hub API and the v2 protocol. */
  async execute(
    document: PublishedMetadata,
    method: Method,
    methodName: string,
    call: RunCall,
    received = performance.now(),
    decoded?: ServableValue,
  ): Promise<{ output: unknown; raw: ServableValue; timing: RunReply['timing'] }> {
    const servable = `${document.hub.owner}/${document.hub.name}`;
    const metrics = this.metricsOf(servable, document.hub.version);
    const key = `${servable}@${document.hub.version}`;
    const admitted = this.admitted.get(key) ?? 0;
    if (admitted >= this.options.maxQueue) {
      metrics.rejected.inc();
      throw new HubError('OVERLOADED', `${key} has ${admitted} requests waiting or running`, { retryAfter: 1 });
    }
    this.admitted.set(key, admitted + 1);
    let entry: LoadedServable | undefined;
    try {
      const deadline = call.deadline ?? Date.now() + this.options.defaultDeadlineMs;
      entry = await this.options.manager.acquire(document);
      const input = decoded ?? decodeInputs(method, entry.servable.io, call.inputs);
      if (Date.now() > deadline) throw new HubError('DEADLINE_EXCEEDED', `${key} did not start before the deadline`);
      const { output, inferenceMs } = await this.executor(entry, methodName, input, {
        parameters: call.parameters,
        deadline,
        signal: call.signal,
      });
      const finished = performance.now();
      const queueMs = Math.max(0, finished - received - inferenceMs);
      metrics.queue.observe(queueMs / 1000);
      metrics.inference.observe(inferenceMs / 1000);
      metrics.total.observe((finished - received) / 1000);
      metrics.ok.inc();
      if (call.accounted !== false) this.observer?.count(servable, document.hub.version, call.caller, true, finished - received);
      return {
        output: encodeOutput(method, output),
        raw: output,
        timing: { queue_ms: queueMs, inference_ms: inferenceMs, total_ms: finished - received },
      };
    } catch (error) {
      (error instanceof HubError && error.status < 500 ? metrics.invalid : metrics.error).inc();
      if (call.accounted !== false) this.observer?.count(servable, document.hub.version, call.caller, false, performance.now() - received);
      throw error;
    } finally {
      if (entry) this.options.manager.release(entry);
      const remaining = (this.admitted.get(key) ?? 1) - 1;
      if (remaining <= 0) this.admitted.delete(key);
      else this.admitted.set(key, remaining);
    }
  }
}
