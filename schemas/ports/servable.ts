/**
 * The one interface every runtime sits behind. The gateway, batching, caching, the Action Provider
 * and search never care which runtime is behind a servable: they see a `ServableRuntime` that
 * inspects and loads, and a loaded `Servable` that runs.
 */
import type { Dtype, PublishedMetadata, ServableBlock, ServableType } from '../metadata.ts';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** A dense tensor, row-major. `bool` is stored as a Uint8Array of 0/1, `string` as string[]. */
export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TypedArray | string[];
}

/**
 * What a servable takes and gives: named tensors for graph runtimes (ONNX, TensorFlow.js, Keras),
 * plain JSON for Python functions and containers.
 */
export type ServableValue =
  | { kind: 'tensors'; tensors: Record<string, Tensor> }
  | { kind: 'json'; value: unknown };

export interface RunOptions {
  method?: string;
  parameters?: Record<string, unknown>;
  /** Absolute time (ms since epoch) after which the result is no longer wanted. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface Servable {
  readonly type: ServableType;
  /** Whether `run` takes and gives tensors or JSON. */
  readonly io: 'tensors' | 'json';
  /** Approximate resident memory, for the gateway's residency budget. */
  readonly memoryBytes: number;
  run(input: ServableValue, options: RunOptions): Promise<ServableValue>;
  dispose(): Promise<void>;
}

/** A file of the servable, materialized on this machine. */
export interface LocalFile {
  /** Path inside the servable's folder, as published (e.g. `model.onnx`, `weights/group1.bin`). */
  path: string;
  /** Where the bytes are on this machine. */
  localPath: string;
  sha256: string;
  size: number;
}

export interface InspectionResult {
  /** The servable block with what the model file tells filled in (input/output types). */
  servable: ServableBlock;
  /** Facts read from the model: opset, producer, layers ... stored under `hub.inspection`. */
  facts: Record<string, unknown>;
  /** Things worth telling the publisher that do not stop the publish. */
  warnings: string[];
  /** What the servable needs to run (interpreter and library versions), for `hub.dependencies`. */
  dependencies?: Record<string, unknown>;
}

export interface ServableRuntime {
  readonly type: ServableType;
  /**
   * Read the model itself and fill in or check the declared `servable` block. Throws
   * HubError(INVALID_MODEL) naming what is wrong for a file that is not a usable model, and
   * HubError(INVALID_METADATA) when the declaration contradicts the file. Long work it does first
   * (building a declared environment) streams its output to `log`, the publish task's log.
   */
  inspect(files: LocalFile[], declared: ServableBlock, log?: (line: string) => void): Promise<InspectionResult>;
  load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable>;
  /**
   * Build what the servable declares it needs (`servable.environment`, or requirement files among
   * its files) before it is inspected, streaming the tools' output to `log` (the publish task's
   * `environment` step); resolves with a one-line summary. Runtimes without it have no such step.
   */
  prepareEnvironment?(files: LocalFile[], declared: ServableBlock, log: (line: string) => void): Promise<string>;
  /** Whether publishing this servable builds an artifact first (a container image). */
  needsBuild?(servable: ServableBlock): boolean;
  /** Build that artifact, streaming its output to `log`; resolves with a one-line summary. */
  build?(document: PublishedMetadata, files: LocalFile[], log: (line: string) => void): Promise<string>;
  /** Stop what the runtime holds beyond its servables (worker threads); called when the hub stops. */
  close?(): Promise<void>;
  /** Whether this runtime can run on this hub (e.g. tfjs-node installed); a reason when not. */
  available?(): Promise<{ ok: boolean; reason?: string }>;
}
