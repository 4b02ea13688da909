/**
 * TensorFlow.js servables (type `tfjs`): LayersModel and GraphModel folders, a `model.json` and its
 * weight shards, run on the wasm backend. The Keras runtime rebuilds Keras files as LayersModels
 * and serves them through the same `TfjsServable`, so both share the tensor conversions here.
 *
 * tfjs has no int64 or float64: int64 inputs are narrowed to int32 (refused when a value does not
 * fit) and widened back on the way out; float64 is computed in float32. Some wasm kernels compute
 * int32 through float32 too (Neg of 123456789 gives -123456792), so integers past 2^24 are not
 * exact in every op. Declared dtypes stay what
 * the model says (a graph model's DT_INT64 input is declared `int64`), so clients send what the
 * original model took.
 */
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import type {
  ArgumentType,
  Dtype,
  Method,
  NdarrayArgument,
  PublishedMetadata,
  ServableBlock,
} from '../schemas/metadata.ts';
import type {
  InspectionResult,
  LocalFile,
  RunOptions,
  Servable,
  ServableRuntime,
  ServableValue,
  Tensor,
} from '../schemas/ports/servable.ts';
import { ensureTfjsBackend, tf } from './tfjs-backend.ts';
import { localFilesIOHandler, readModelJson } from './tfjs-file-io.ts';

/** One named input or output of a model, as the hub declares it. */
export interface TensorSpec {
  name: string;
  shape: (number | null)[];
  dtype: Dtype;
}

/** What a tfjs model looks like to the servable: named specs and a way to run them. */
export interface TfjsRunner {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly memoryBytes: number;
  /** Tensors in, tensors out in the order of `outputs`; the caller disposes both. */
  execute(inputs: Record<string, tf.Tensor>): Promise<tf.Tensor[]>;
  dispose(): void;
}

const TF_DTYPES: Record<string, Dtype> = {
  DT_FLOAT: 'float32',
  DT_HALF: 'float32',
  DT_DOUBLE: 'float64',
  DT_INT32: 'int32',
  DT_INT64: 'int64',
  DT_INT16: 'int32',
  DT_INT8: 'int32',
  DT_UINT8: 'int32',
  DT_UINT16: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
};

/** The dtype tfjs computes in for a declared dtype. */
function tfjsDtype(dtype: Dtype): 'float32' | 'int32' | 'bool' | 'string' {
  switch (dtype) {
    case 'float16':
    case 'float32':
    case 'float64':
      return 'float32';
    case 'bool':
      return 'bool';
    case 'string':
      return 'string';
    default:
      return 'int32';
  }
}

export function dtypeFromTfjs(dtype: string | undefined, where: string): Dtype {
  if (dtype === 'float32' || dtype === 'int32' || dtype === 'bool' || dtype === 'string') return dtype;
  if (dtype === undefined) return 'float32';
  throw new HubError('INVALID_MODEL', `${where} has dtype ${dtype}, which the hub cannot serve`);
}

function dtypeFromTf(dtype: string | undefined, where: string): Dtype | undefined {
  if (dtype === undefined) return undefined;
  const mapped = TF_DTYPES[dtype];
  if (mapped === undefined) throw new HubError('INVALID_MODEL', `${where} has dtype ${dtype}, which tfjs cannot run`);
  return mapped;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------- tensors in and out

function toTfTensor(spec: TensorSpec, tensor: Tensor): tf.Tensor {
  const where = `input ${spec.name}`;
  if (tensor.shape.length !== spec.shape.length) {
    throw new HubError('INVALID_INPUTS', `${where} has rank ${tensor.shape.length}, the model takes rank ${spec.shape.length}`);
  }
  spec.shape.forEach((dim, i) => {
    if (dim !== null && dim !== tensor.shape[i]) {
      throw new HubError('INVALID_INPUTS', `${where} has shape [${tensor.shape}], the model takes [${spec.shape.map((d) => d ?? -1)}]`);
    }
  });
  if (tensor.data.length !== size(tensor.shape)) {
    throw new HubError('INVALID_INPUTS', `${where} holds ${tensor.data.length} values for shape [${tensor.shape}]`);
  }
  const target = tfjsDtype(spec.dtype);
  const { data } = tensor;
  if (target === 'string') {
    if (!Array.isArray(data)) throw new HubError('INVALID_INPUTS', `${where} must hold strings`);
    return tf.tensor(data, tensor.shape, 'string');
  }
  if (Array.isArray(data)) throw new HubError('INVALID_INPUTS', `${where} must be numeric, got strings`);
  if (target === 'float32') {
    const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number | bigint>, Number);
    return tf.tensor(values, tensor.shape, 'float32');
  }
  if (target === 'bool') {
    const values = data instanceof Uint8Array ? data : Uint8Array.from(data as ArrayLike<number | bigint>, (v) => (Number(v) ? 1 : 0));
    return tf.tensor(values, tensor.shape, 'bool');
  }
  if (data instanceof Int32Array) return tf.tensor(data, tensor.shape, 'int32');
  const values = new Int32Array(data.length);
  for (let i = 0; i < data.length; i += 1) {
    const value = Number(data[i]);
    // int64 is narrowed for tfjs: a value that does not fit would silently wrap.
    if (!Number.isInteger(value) || value > 2147483647 || value < -2147483648) {
      throw new HubError('INVALID_INPUTS', `${where} value ${String(data[i])} does not fit the int32 that TensorFlow.js computes in`);
    }
    values[i] = value;
  }
  return tf.tensor(values, tensor.shape, 'int32');
}

async function fromTfTensor(spec: TensorSpec, tensor: tf.Tensor): Promise<Tensor> {
  const shape = [...tensor.shape];
  const data = await tensor.data();
  if (tensor.dtype === 'string') return { dtype: 'string', shape, data: data as unknown as string[] };
  const numbers = data as Float32Array | Int32Array | Uint8Array;
  switch (spec.dtype) {
    case 'int64':
      return { dtype: 'int64', shape, data: BigInt64Array.from(numbers, (v) => BigInt(Math.trunc(v))) };
    case 'float64':
      return { dtype: 'float64', shape, data: Float64Array.from(numbers) };
    case 'bool':
      return { dtype: 'bool', shape, data: numbers instanceof Uint8Array ? numbers : Uint8Array.from(numbers, (v) => (v ? 1 : 0)) };
    case 'float32':
      return { dtype: 'float32', shape, data: numbers instanceof Float32Array ? numbers : Float32Array.from(numbers) };
    default:
      return { dtype: 'int32', shape, data: numbers instanceof Int32Array ? numbers : Int32Array.from(numbers) };
  }
}

// ---------------------------------------------------------------- the servable

export class TfjsServable implements Servable {
  readonly io = 'tensors' as const;
  readonly memoryBytes: number;

  constructor(
    readonly type: 'tfjs' | 'keras' | 'tf-savedmodel',
    private readonly runner: TfjsRunner,
  ) {
    this.memoryBytes = runner.memoryBytes;
  }

  get inputs(): TensorSpec[] {
    return this.runner.inputs;
  }

  get outputs(): TensorSpec[] {
    return this.runner.outputs;
  }

  async run(input: ServableValue, options: RunOptions = {}): Promise<ServableValue> {
    if (options.method !== undefined && options.method !== 'run') {
      throw new HubError('BAD_REQUEST', `a ${this.type} servable has only the method run, not ${options.method}`);
    }
    if (input.kind !== 'tensors') throw new HubError('INVALID_INPUTS', `a ${this.type} servable takes tensors`);
    if (options.signal?.aborted || (options.deadline !== undefined && Date.now() > options.deadline)) {
      throw new HubError('DEADLINE_EXCEEDED', 'before the model ran');
    }
    const given = input.tensors;
    const names = Object.keys(given);
    const inputs: Record<string, tf.Tensor> = {};
    try {
      for (const spec of this.runner.inputs) {
        // A single-input model takes its one tensor whatever the caller named it.
        const tensor = given[spec.name] ?? (this.runner.inputs.length === 1 && names.length === 1 ? given[names[0]!] : undefined);
        if (tensor === undefined) throw new HubError('INVALID_INPUTS', `input ${spec.name} is missing`);
        inputs[spec.name] = toTfTensor(spec, tensor);
      }
      const unknown = names.filter((name) => !this.runner.inputs.some((spec) => spec.name === name));
      if (this.runner.inputs.length > 1 && unknown.length > 0) {
        throw new HubError('INVALID_INPUTS', `the model has no input ${unknown.join(', ')}`);
      }
      const outputs = await this.runner.execute(inputs);
      try {
        const tensors: Record<string, Tensor> = {};
        for (const [i, spec] of this.runner.outputs.entries()) tensors[spec.name] = await fromTfTensor(spec, outputs[i]!);
        return { kind: 'tensors', tensors };
      } finally {
        tf.dispose(outputs);
      }
    } finally {
      tf.dispose(Object.values(inputs));
    }
  }

  async dispose(): Promise<void> {
    this.runner.dispose();
  }
}

/** Run the model once on zeros (dynamic dimensions as 1): fails a broken model at publish time. */
export async function warmUp(runner: TfjsRunner): Promise<tf.Tensor[]> {
  const inputs: Record<string, tf.Tensor> = {};
  for (const spec of runner.inputs) {
    const shape = spec.shape.map((dim) => dim ?? 1);
    inputs[spec.name] = spec.dtype === 'string'
      ? tf.tensor(new Array<string>(size(shape)).fill(''), shape, 'string')
      : tf.zeros(shape, tfjsDtype(spec.dtype));
  }
  try {
    return await runner.execute(inputs);
  } catch (error) {
    throw new HubError('INVALID_MODEL', `the warm-up run failed: ${(error as Error).message}`, { cause: error });
  } finally {
    tf.dispose(Object.values(inputs));
  }
}

// ---------------------------------------------------------------- methods and declarations

const ndarray = (spec: TensorSpec): NdarrayArgument => ({ type: 'ndarray', shape: spec.shape, dtype: spec.dtype });

function argumentFor(specs: TensorSpec[]): ArgumentType {
  if (specs.length === 1) return ndarray(specs[0]!);
  return { type: 'dict', properties: Object.fromEntries(specs.map((spec) => [spec.name, ndarray(spec)])) };
}

/** The `run` method a model with these inputs and outputs has. */
export function methodFor(inputs: TensorSpec[], outputs: TensorSpec[], details: Record<string, unknown> = {}): Method {
  return {
    input: argumentFor(inputs),
    output: argumentFor(outputs),
    method_details: { ...details, input_names: inputs.map((s) => s.name), output_names: outputs.map((s) => s.name) },
  };
}

const isUndeclared = (arg: ArgumentType | undefined): boolean => arg === undefined || arg.type === 'any';

function reconcileArgument(declared: ArgumentType, actual: ArgumentType, where: string): ArgumentType {
  if (actual.type === 'ndarray') {
    if (declared.type !== 'ndarray') {
      throw new HubError('INVALID_METADATA', `${where} is declared as ${declared.type}, but the model takes one ndarray`);
    }
    if (declared.dtype !== actual.dtype) {
      throw new HubError('INVALID_METADATA', `${where} is declared ${declared.dtype}, but the model has ${actual.dtype}`);
    }
    if (declared.shape.length !== actual.shape.length) {
      throw new HubError('INVALID_METADATA', `${where} is declared with rank ${declared.shape.length}, but the model has rank ${actual.shape.length}`);
    }
    const shape = actual.shape.map((dim, i) => {
      const wanted = declared.shape[i] ?? null;
      if (dim !== null && wanted !== null && wanted !== dim) {
        throw new HubError('INVALID_METADATA', `${where} is declared with shape [${declared.shape.map((d) => d ?? -1)}], but the model has [${actual.shape.map((d) => d ?? -1)}]`);
      }
      // A declaration may fix a dimension the model leaves open, never the other way round.
      return dim ?? wanted;
    });
    return { ...actual, shape, ...(declared.description === undefined ? {} : { description: declared.description }) };
  }
  if (actual.type === 'dict') {
    if (declared.type !== 'dict') {
      throw new HubError('INVALID_METADATA', `${where} is declared as ${declared.type}, but the model takes named tensors (${Object.keys(actual.properties).join(', ')})`);
    }
    const missing = Object.keys(actual.properties).filter((name) => !(name in declared.properties));
    const extra = Object.keys(declared.properties).filter((name) => !(name in actual.properties));
    if (extra.length > 0 || missing.length > 0) {
      throw new HubError('INVALID_METADATA', `${where} declares ${Object.keys(declared.properties).join(', ')}, but the model has ${Object.keys(actual.properties).join(', ')}`);
    }
    const properties = Object.fromEntries(
      Object.entries(actual.properties).map(([name, arg]) => [name, reconcileArgument(declared.properties[name]!, arg, `${where} ${name}`)]),
    );
    return { ...actual, properties, ...(declared.description === undefined ? {} : { description: declared.description }) };
  }
  return actual;
}

/**
 * The `run` method to publish: what the model says, checked against what the publisher declared.
 * An `any` (or absent) declaration is filled in; a contradiction is INVALID_METADATA.
 */
export function reconcileMethod(declared: Method | undefined, actual: Method): Method {
  return {
    ...declared,
    input: declared === undefined || isUndeclared(declared.input) ? actual.input : reconcileArgument(declared.input, actual.input, 'input'),
    output: declared === undefined || isUndeclared(declared.output) ? actual.output : reconcileArgument(declared.output, actual.output, 'output'),
    method_details: { ...declared?.method_details, ...actual.method_details },
  };
}

/** The inspection result for a model that a runner wraps; runs the warm-up. */
export async function inspectRunner(
  runner: TfjsRunner,
  declared: ServableBlock,
  block: Partial<ServableBlock>,
  details: Record<string, unknown>,
): Promise<{ servable: ServableBlock; outputs: tf.Tensor[] }> {
  const outputs = await warmUp(runner);
  const method = reconcileMethod(declared.methods?.run, methodFor(runner.inputs, runner.outputs, details));
  return {
    servable: { ...declared, ...block, methods: { ...declared.methods, run: method } },
    outputs,
  };
}

// ---------------------------------------------------------------- LayersModel and GraphModel runners

function weightBytes(tensors: { shape: number[]; dtype: string }[]): number {
  return tensors.reduce((total, t) => total + size(t.shape) * (t.dtype === 'bool' ? 1 : 4), 0);
}

/** A runner around a LayersModel (from a tfjs folder or rebuilt from a Keras file). */
export function layersModelRunner(model: tf.LayersModel): TfjsRunner {
  const specs = (tensors: tf.SymbolicTensor[], names: string[], kind: string): TensorSpec[] =>
    tensors.map((t, i) => ({
      name: names[i] ?? t.name,
      shape: t.shape.map((dim) => (dim === null || dim < 0 ? null : dim)),
      dtype: dtypeFromTfjs(t.dtype, `${kind} ${names[i] ?? t.name}`),
    }));
  const inputs = specs(model.inputs, model.inputNames, 'input');
  const outputs = specs(model.outputs, model.outputNames, 'output');
  return {
    inputs,
    outputs,
    memoryBytes: weightBytes(model.weights.map((w) => ({ shape: w.shape as number[], dtype: w.dtype }))),
    async execute(named) {
      const result = model.predict(inputs.map((spec) => named[spec.name]!));
      return Array.isArray(result) ? result : [result];
    },
    dispose: () => model.dispose(),
  };
}

interface SignatureEntry {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}
interface Signature {
  inputs?: Record<string, SignatureEntry>;
  outputs?: Record<string, SignatureEntry>;
}

function signatureOf(modelJson: tf.io.ModelJSON): Signature | undefined {
  const user = modelJson.userDefinedMetadata as { signature?: Signature } | undefined;
  return (modelJson.signature as Signature | undefined) ?? user?.signature;
}

function signatureEntry(entries: Record<string, SignatureEntry> | undefined, name: string): SignatureEntry | undefined {
  if (entries === undefined) return undefined;
  const base = name.replace(/:0$/, '');
  return Object.entries(entries).find(([key, entry]) =>
    [key, entry.name].some((candidate) => candidate !== undefined && candidate.replace(/:0$/, '') === base),
  )?.[1];
}

function shapeFromSignature(entry: SignatureEntry | undefined): (number | null)[] | undefined {
  if (entry?.tensorShape === undefined || entry.tensorShape.unknownRank) return undefined;
  return (entry.tensorShape.dim ?? []).map((dim) => {
    const value = Number(dim.size ?? -1);
    return value < 0 ? null : value;
  });
}

interface GraphNode {
  name: string;
  op: string;
  attr?: { dtype?: { type?: string }; shape?: { shape?: { dim?: { size?: string }[]; unknownRank?: boolean } } };
}

/** A runner around a GraphModel; output shapes it cannot tell are read from a warm-up run. */
export async function graphModelRunner(model: tf.GraphModel, modelJson: tf.io.ModelJSON): Promise<TfjsRunner> {
  const signature = signatureOf(modelJson);
  const nodes = ((modelJson.modelTopology as { node?: GraphNode[] } | undefined)?.node ?? []);
  const placeholder = (name: string) => nodes.find((node) => node.name === name.replace(/:0$/, ''));
  const inputs: TensorSpec[] = model.inputs.map((info) => {
    const entry = signatureEntry(signature?.inputs, info.name);
    const originalDtype = entry?.dtype ?? placeholder(info.name)?.attr?.dtype?.type;
    return {
      name: info.name,
      shape: shapeFromSignature(entry) ?? (info.shape ?? []).map((dim) => (dim < 0 ? null : dim)),
      dtype: dtypeFromTf(originalDtype, `input ${info.name}`) ?? dtypeFromTfjs(info.dtype, `input ${info.name}`),
    };
  });
  const outputNames = model.outputs.map((info) => info.name);
  let dynamic = false;
  const execute = async (named: Record<string, tf.Tensor>): Promise<tf.Tensor[]> => {
    if (!dynamic) {
      try {
        const result = model.execute(named, outputNames);
        return Array.isArray(result) ? result : [result];
      } catch (error) {
        // Control-flow graphs can only run asynchronously; tfjs says so when it meets one.
        if (!/executeAsync/.test((error as Error).message)) throw error;
        dynamic = true;
      }
    }
    const result = await model.executeAsync(named, outputNames);
    return Array.isArray(result) ? result : [result];
  };
  const outputs: TensorSpec[] = model.outputs.map((info) => {
    const entry = signatureEntry(signature?.outputs, info.name);
    return {
      name: info.name,
      shape: shapeFromSignature(entry) ?? [],
      dtype: dtypeFromTf(entry?.dtype, `output ${info.name}`) ?? dtypeFromTfjs(info.dtype, `output ${info.name}`),
    };
  });
  const runner: TfjsRunner = {
    inputs,
    outputs,
    memoryBytes: weightBytes(Object.values(model.weights).flat()),
    execute,
    dispose: () => model.dispose(),
  };
  const unknown = model.outputs.some((info) => shapeFromSignature(signatureEntry(signature?.outputs, info.name)) === undefined);
  if (unknown) {
    const results = await warmUp(runner);
    const batchIsOpen = inputs[0]?.shape[0] === null;
    results.forEach((tensor, i) => {
      outputs[i]!.shape = tensor.shape.map((dim, axis) => (axis === 0 && batchIsOpen ? null : dim));
      outputs[i]!.dtype = signatureEntry(signature?.outputs, outputs[i]!.name)?.dtype === undefined
        ? dtypeFromTfjs(tensor.dtype, `output ${outputs[i]!.name}`)
        : outputs[i]!.dtype;
    });
    tf.dispose(results);
  }
  return runner;
}

// ---------------------------------------------------------------- the runtime

/** The `model.json` among the files: the declared `model_file`, `model.json`, or the one JSON file. */
export function pickModelJson(files: LocalFile[], modelFile?: string): LocalFile {
  const normalized = (p: string) => path.posix.normalize(p);
  if (modelFile !== undefined) {
    const found = files.find((file) => normalized(file.path) === normalized(modelFile));
    if (found === undefined) throw new HubError('INVALID_METADATA', `model_file ${modelFile} is not among the uploaded files`);
    return found;
  }
  const named = files.filter((file) => path.posix.basename(file.path) === 'model.json');
  if (named.length === 1) return named[0]!;
  const json = files.filter((file) => file.path.endsWith('.json'));
  if (json.length === 1) return json[0]!;
  throw new HubError(
    'INVALID_MODEL',
    json.length === 0 ? 'no model.json among the files' : `several JSON files (${json.map((f) => f.path).join(', ')}): set servable.model_file`,
  );
}

type ModelFormat = 'layers-model' | 'graph-model';

function formatOf(modelJson: tf.io.ModelJSON, where: string): ModelFormat {
  if (modelJson.format === 'layers-model' || modelJson.format === 'graph-model') return modelJson.format;
  const topology = modelJson.modelTopology as Record<string, unknown> | undefined;
  if (topology !== undefined && 'node' in topology) return 'graph-model';
  if (topology !== undefined && ('model_config' in topology || 'class_name' in topology)) return 'layers-model';
  throw new HubError('INVALID_MODEL', `${where} is neither a tfjs layers model nor a graph model`);
}

async function openModel(files: LocalFile[], modelFile: LocalFile): Promise<{ runner: TfjsRunner; modelJson: tf.io.ModelJSON; format: ModelFormat }> {
  await ensureTfjsBackend();
  const modelJson = await readModelJson(modelFile);
  const format = formatOf(modelJson, modelFile.path);
  const handler = localFilesIOHandler(files, modelFile.path);
  try {
    if (format === 'graph-model') {
      const model = await tf.loadGraphModel(handler);
      try {
        return { runner: await graphModelRunner(model, modelJson), modelJson, format };
      } catch (error) {
        model.dispose();
        throw error;
      }
    }
    const model = await tf.loadLayersModel(handler, { strict: true });
    return { runner: layersModelRunner(model), modelJson, format };
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new HubError('INVALID_MODEL', `${modelFile.path} cannot be loaded by TensorFlow.js: ${(error as Error).message}`, { cause: error });
  }
}

/** A loaded runner as a Servable: the declared dtypes applied and one warm-up run done. */
export async function readyServable(type: 'tfjs' | 'keras', runner: TfjsRunner, document: PublishedMetadata): Promise<Servable> {
  applyDeclaredDtypes(runner, document.servable.methods.run);
  try {
    tf.dispose(await warmUp(runner));
  } catch (error) {
    runner.dispose();
    throw error;
  }
  return new TfjsServable(type, runner);
}

export class TfjsRuntime implements ServableRuntime {
  readonly type = 'tfjs' as const;

  async inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    const modelFile = pickModelJson(files, declared.model_file);
    const { runner, modelJson, format } = await openModel(files, modelFile);
    try {
      const { servable, outputs } = await inspectRunner(runner, declared, { type: 'tfjs', model_file: modelFile.path, runtime: { ...declared.runtime, engine: 'tfjs', format } }, { format });
      tf.dispose(outputs);
      const warnings: string[] = [];
      const computedIn = runner.inputs.concat(runner.outputs).filter((spec) => spec.dtype === 'int64' || spec.dtype === 'float64');
      if (computedIn.length > 0) {
        warnings.push(`TensorFlow.js computes ${computedIn.map((s) => `${s.name} (${s.dtype})`).join(', ')} in 32 bits`);
      }
      return {
        servable,
        facts: {
          engine: 'tfjs',
          backend: tf.getBackend(),
          format,
          generated_by: modelJson.generatedBy,
          converted_by: modelJson.convertedBy,
          weight_bytes: runner.memoryBytes,
          ...(format === 'graph-model' ? { nodes: ((modelJson.modelTopology as { node?: unknown[] }).node ?? []).length } : {}),
        },
        warnings,
      };
    } finally {
      runner.dispose();
    }
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    const modelFile = pickModelJson(files, document.servable.model_file);
    const { runner } = await openModel(files, modelFile);
    return readyServable('tfjs', runner, document);
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await ensureTfjsBackend();
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: `the TensorFlow.js wasm backend did not start: ${(error as Error).message}` };
    }
  }
}

/** The published dtypes (e.g. int64) decide what the servable gives back, not tfjs' int32. */
export function applyDeclaredDtypes(runner: TfjsRunner, method: Method): void {
  const apply = (specs: TensorSpec[], arg: ArgumentType) => {
    for (const spec of specs) {
      const declared = arg.type === 'ndarray' && specs.length === 1 ? arg : arg.type === 'dict' ? arg.properties[spec.name] : undefined;
      if (declared?.type === 'ndarray') spec.dtype = declared.dtype;
    }
  };
  apply(runner.inputs, method.input);
  apply(runner.outputs, method.output);
}
