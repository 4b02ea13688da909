/**
 * The `container` runtime: a servable whose program runs in its own container (a generic
 * container servable, or a python/sklearn/torch servable published with container isolation).
 * Loading builds (or reuses) its image and registers it with the gateway's container pool; a run
 * is one Open Inference Protocol v2 request to a warm container.
 *
 * JSON travels as v2 tensors: a rectangular array of numbers is an INT64 (all whole numbers) or
 * FP64 tensor, of booleans BOOL, of strings BYTES; an object whose values are all such arrays is
 * one tensor per key; anything else is one BYTES tensor holding the JSON document, marked with
 * `parameters.content_type = "json"`. Outputs come back the same way: one output as itself,
 * several as an object by name.
 */
import { readFile } from 'node:fs/promises';
import { buildServableImage, servableLabels } from './image-builder.ts';
import { HubError } from '../schemas/errors.ts';
import type { ContainerPool, PoolPolicy, V2Tensor } from './container-pool.ts';
import type { ContainerEngine } from '../schemas/ports/container-engine.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import type { InspectionResult, LocalFile, RunOptions, Servable, ServableRuntime, ServableValue } from '../schemas/ports/servable.ts';

type Leaf = 'number' | 'boolean' | 'string';

/** The shape of a rectangular nested array of one leaf kind, or undefined. */
function rectangular(value: unknown): { shape: number[]; leaf: Leaf; flat: unknown[] } | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const flat: unknown[] = [];
  let leaf: Leaf | undefined;
  const walk = (node: unknown, depth: number, shape: number[]): boolean => {
    if (Array.isArray(node)) {
      if (shape.length === depth) shape.push(node.length);
      else if (shape[depth] !== node.length) return false;
      if (node.length === 0) return false;
      return node.every((child) => walk(child, depth + 1, shape));
    }
    if (depth !== shape.length) return false;
    const kind = typeof node;
    if (kind !== 'number' && kind !== 'boolean' && kind !== 'string') return false;
    if (kind === 'number' && !Number.isFinite(node as number)) return false;
    if (leaf === undefined) leaf = kind as Leaf;
    else if (leaf !== kind) return false;
    flat.push(node);
    return true;
  };
  const shape: number[] = [];
  if (!walk(value, 0, shape) || leaf === undefined) return undefined;
  return { shape, leaf, flat };
}

function tensorOf(name: string, value: unknown): V2Tensor | undefined {
  const found = rectangular(value);
  if (!found) return undefined;
  const datatype = found.leaf === 'boolean' ? 'BOOL' : found.leaf === 'string' ? 'BYTES' : found.flat.every((x) => Number.isInteger(x)) ? 'INT64' : 'FP64';
  return { name, shape: found.shape, datatype, data: found.flat };
}

/** A run's JSON inputs as v2 input tensors (see the module comment for the mapping). */
export function jsonToV2Inputs(value: unknown): V2Tensor[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value);
    const tensors = entries.map(([name, item]) => tensorOf(name, item));
    if (entries.length > 0 && tensors.every((tensor) => tensor !== undefined)) return tensors as V2Tensor[];
  }
  const single = tensorOf('input', value);
  if (single) return [single];
  return [{ name: 'input', shape: [1], datatype: 'BYTES', data: [JSON.stringify(value ?? null)], parameters: { content_type: 'json' } }];
}

function flatten(data: unknown): unknown[] {
  return Array.isArray(data) ? data.flatMap((item) => flatten(item)) : [data];
}

function reshape(flat: unknown[], shape: number[]): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat;
  const step = shape[0] === 0 ? 0 : flat.length / shape[0]!;
  return Array.from({ length: shape[0]! }, (_, i) => reshape(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
}

export function v2TensorToJson(tensor: V2Tensor): unknown {
  const flat = flatten(tensor.data);
  if (tensor.parameters?.content_type === 'json') return JSON.parse(String(flat[0]));
  const values = tensor.datatype === 'BOOL' ? flat.map((x) => Boolean(x)) : flat;
  return reshape(values, tensor.shape ?? [values.length]);
}

/** v2 outputs as JSON: one output as itself, several as an object by name. */
export function v2OutputsToJson(outputs: V2Tensor[]): unknown {
  if (outputs.length === 1) return v2TensorToJson(outputs[0]!);
  return Object.fromEntries(outputs.map((tensor) => [tensor.name, v2TensorToJson(tensor)]));
}

export interface ContainerRuntimeOptions {
  engine: ContainerEngine;
  pool: ContainerPool;
  /** The hub instance that owns images and containers. */
  instance: string;
  /** Per-servable pool settings; the servable's `options.timeout_ms` is not a pool setting. */
  policy?: (document: PublishedMetadata) => Partial<PoolPolicy> | undefined;
  /** Build log lines when `load` has to build an image that publish did not. */
  onBuildLog?: (line: string) => void;
  workDir?: string;
}

/** The pool key of a servable version. */
export const poolKey = (document: PublishedMetadata) => `${document.hub.owner}/${document.hub.name}@${document.hub.version}`;

class ContainerBackedServable implements Servable {
  readonly io = 'json' as const;
  /** The model's memory lives in its container, outside the hub's residency budget. */
  readonly memoryBytes = 0;

  constructor(
    readonly type: ServableBlock['type'],
    private readonly key: string,
    private readonly pool: ContainerPool,
    private readonly generic: boolean,
  ) {}

  async run(input: ServableValue, options: RunOptions): Promise<ServableValue> {
    if (input.kind !== 'json') throw new HubError('INTERNAL', 'container servables take JSON inputs');
    const method = options.method ?? 'run';
    // The hub's runner reads the method from the parameters; generic containers only see theirs.
    const parameters = this.generic && method === 'run' ? options.parameters : { ...options.parameters, method };
    const reply = await this.pool.infer(
      this.key,
      { inputs: jsonToV2Inputs(input.value), ...(parameters && Object.keys(parameters).length > 0 ? { parameters } : {}) },
      { deadline: options.deadline, signal: options.signal },
    );
    return { kind: 'json', value: v2OutputsToJson(reply.outputs ?? []) };
  }

  dispose(): Promise<void> {
    return this.pool.unregister(this.key);
  }
}

/**
 * Builds (or reuses) the image of a servable version and registers it with the pool. Also the way
 * python, sklearn and torch servables with `options.container_isolation` are loaded.
 */
export async function loadContainerServable(document: PublishedMetadata, files: LocalFile[], options: ContainerRuntimeOptions): Promise<Servable> {
  const image = await buildServableImage(options.engine, { document, files, instance: options.instance }, { onLog: options.onBuildLog, workDir: options.workDir });
  const key = poolKey(document);
  await options.pool.register(key, { image, labels: servableLabels(document, options.instance), policy: options.policy?.(document) });
  return new ContainerBackedServable(document.servable.type, key, options.pool, document.servable.type === 'container');
}

const FROM_LINE = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)/im;

/**
 * What a generic container's Dockerfile tells before building: its base image, and warnings worth
 * showing the publisher. INVALID_MODEL when there is no FROM line. Shared with the SDK.
 */
export function inspectDockerfile(text: string): { baseImage: string; warnings: string[] } {
  const baseImage = FROM_LINE.exec(text)?.[1];
  if (!baseImage) throw new HubError('INVALID_MODEL', 'the Dockerfile has no FROM line');
  const warnings: string[] = [];
  if (!baseImage.startsWith('modelhub/')) {
    warnings.push(`the Dockerfile starts FROM ${baseImage}, not one of the hub's base images (modelhub/base:bookworm, modelhub/python:bookworm): it must already exist on the hub's Docker engine, since nothing can be pulled`);
  }
  if (/^\s*USER\s+(root|0)\b/im.test(text)) warnings.push('the Dockerfile switches to root; the hub runs containers as an unprivileged user (10001) anyway');
  if (!/^\s*(CMD|ENTRYPOINT)\b/im.test(text)) warnings.push('the Dockerfile has no CMD or ENTRYPOINT: the base image\'s command must serve the protocol on port 8080');
  return { baseImage, warnings };
}

export class ContainerServableRuntime implements ServableRuntime {
  readonly type = 'container' as const;

  constructor(private readonly options: ContainerRuntimeOptions) {}

  async available(): Promise<{ ok: boolean; reason?: string }> {
    if (this.options.engine.kind === 'process') {
      return { ok: false, reason: 'generic container servables need MODELHUB_CONTAINERS=docker or swarm' };
    }
    const health = await this.options.engine.health();
    return health.ok ? { ok: true } : { ok: false, reason: health.detail };
  }

  async inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    const dockerfile = files.find((file) => file.path === 'Dockerfile');
    if (!dockerfile) throw new HubError('INVALID_MODEL', 'a container servable needs a Dockerfile at the top of its folder');
    const { baseImage, warnings } = inspectDockerfile(await readFile(dockerfile.localPath, 'utf8'));
    return { servable: declared, facts: { base_image: baseImage, dockerfile_bytes: dockerfile.size }, warnings };
  }

  needsBuild(): boolean {
    return true;
  }

  async build(document: PublishedMetadata, files: LocalFile[], log: (line: string) => void): Promise<string> {
    const image = await buildServableImage(this.options.engine, { document, files, instance: this.options.instance }, { onLog: log, workDir: this.options.workDir });
    return `image ${image.ref} (${image.id.slice(0, 19)})`;
  }

  load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    return loadContainerServable(document, files, this.options);
  }
}
