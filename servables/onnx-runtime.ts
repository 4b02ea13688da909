/**
 * ONNX models through onnxruntime-node, on the CPU. Inspection reads the file's interface with
 * onnx-proto, checks or fills in the declared `run` method, and makes sure onnxruntime will load it;
 * loading opens one session per servable version, which runs named tensors in and out.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { HubError } from '../schemas/errors.ts';
import type { ArgumentType, Dtype, Method, NdarrayArgument, PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import { DTYPES } from '../schemas/metadata.ts';
import { checkOnnxSessionOffThread, inspectOnnxFileOffThread } from './publish-work-pool.ts';
import { onnxFactsToMethod, tensorInfoToArgument, type OnnxFacts, type OnnxTensorInfo } from './onnx-inspect.ts';
import type {
  InspectionResult,
  LocalFile,
  RunOptions,
  Servable,
  ServableRuntime,
  ServableValue,
  Tensor,
  TypedArray,
} from '../schemas/ports/servable.ts';

type Ort = typeof import('onnxruntime-node');

/**
 * One intra-op and one inter-op thread: the hub runs many sessions side by side on few cores, and
 * measured tail latency on 2 cores was far better this way than with onnxruntime's default pool.
 */
export const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

let ortModule: Promise<Ort> | undefined;

/** Imported on first use, so a hub whose native binding cannot load still starts and says why. */
function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then((mod) => ((mod as { default?: Ort }).default ?? mod) as Ort);
  return ortModule;
}

async function ort(): Promise<Ort> {
  try {
    return await loadOrt();
  } catch (error) {
    throw new HubError('RUNTIME_UNAVAILABLE', `onnxruntime-node cannot be loaded: ${messageOf(error)}`, { cause: error });
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The model file: the declared `model_file`, else the only `.onnx` file. */
export function resolveModelFile(files: LocalFile[], modelFile: string | undefined): LocalFile {
  if (modelFile !== undefined) {
    const file = files.find((f) => f.path === modelFile);
    if (!file) {
      throw new HubError('INVALID_METADATA', `servable.model_file "${modelFile}" is not among the files (${files.map((f) => f.path).join(', ') || 'none'})`);
    }
    return file;
  }
  const candidates = files.filter((f) => f.path.toLowerCase().endsWith('.onnx'));
  if (candidates.length === 0) {
    throw new HubError('INVALID_MODEL', `no .onnx file among the files (${files.map((f) => f.path).join(', ') || 'none'})`);
  }
  if (candidates.length > 1) {
    throw new HubError(
      'INVALID_MODEL',
      `several .onnx files (${candidates.map((f) => f.path).join(', ')}); name the model in servable.model_file`,
    );
  }
  return candidates[0]!;
}

const formatShape = (shape: (number | null)[]): string => `[${shape.map((d) => (d === null ? 'null' : d)).join(', ')}]`;

function mismatch(path: string, detail: string): HubError {
  return new HubError('INVALID_METADATA', `${path}: ${detail}`, { details: { path } });
}

/** A declared tensor checked against the file's; the declaration may narrow dynamic dims, never contradict. */
function reconcileTensor(path: string, declared: ArgumentType, info: OnnxTensorInfo): ArgumentType {
  if (declared.type === 'any') return withDescription(tensorInfoToArgument(info), declared.description);
  const fileType = info.unknownRank ? `a ${info.dtype} tensor` : `a ${info.dtype} tensor of shape ${formatShape(info.shape)}`;
  if (declared.type !== 'ndarray') {
    throw mismatch(path, `declared as ${declared.type}, but the model's "${info.name}" is ${fileType}`);
  }
  if (declared.dtype !== info.dtype) {
    throw mismatch(path, `declared dtype ${declared.dtype}, but the model's "${info.name}" is ${info.dtype}`);
  }
  if (info.unknownRank) return declared;
  if (declared.shape.length !== info.shape.length) {
    throw mismatch(
      path,
      `declared shape ${formatShape(declared.shape)} has rank ${declared.shape.length}, but the model's "${info.name}" has rank ${info.shape.length} ${formatShape(info.shape)}`,
    );
  }
  const shape = info.shape.map((fileDim, i) => {
    const declaredDim = declared.shape[i] ?? null;
    if (declaredDim !== null && fileDim !== null && declaredDim !== fileDim) {
      throw mismatch(path, `dimension ${i} is declared as ${declaredDim}, but the model's "${info.name}" fixes it at ${fileDim}`);
    }
    return declaredDim ?? fileDim;
  });
  const merged: NdarrayArgument = { ...declared, shape };
  return merged;
}

function withDescription(type: ArgumentType, description: string | undefined): ArgumentType {
  return description === undefined ? type : { ...type, description };
}

function reconcileSide(role: 'input' | 'output', declared: ArgumentType, infos: OnnxTensorInfo[], fromFile: ArgumentType): ArgumentType {
  const path = `methods.run.${role}`;
  const names = infos.map((info) => `"${info.name}"`).join(', ');
  if (declared.type === 'any') return withDescription(fromFile, declared.description);
  if (declared.type === 'dict') {
    const declaredNames = Object.keys(declared.properties);
    const extra = declaredNames.find((name) => !infos.some((info) => info.name === name));
    if (extra !== undefined) {
      throw mismatch(path, `declares "${extra}", which is not an ${role} of the model (its ${role}s are ${names})`);
    }
    const missing = infos.find((info) => !(info.name in declared.properties));
    if (missing) throw mismatch(path, `does not declare the model's ${role} "${missing.name}" (its ${role}s are ${names})`);
    const properties = Object.fromEntries(
      infos.map((info) => [info.name, reconcileTensor(`${path}.properties.${info.name}`, declared.properties[info.name]!, info)]),
    );
    return { ...declared, properties };
  }
  if (infos.length > 1) {
    throw mismatch(path, `declared as one ${declared.type}, but the model has ${infos.length} ${role}s: ${names}; declare a dict of them`);
  }
  return reconcileTensor(path, declared, infos[0]!);
}

/**
 * The declared `run` method checked against the file: what was left open (`{"type": "any"}`) is filled
 * in, what contradicts the file is refused with the offending path named.
 */
export function reconcileRunMethod(declared: Method | undefined, facts: OnnxFacts): Method {
  const fromFile = onnxFactsToMethod(facts);
  if (!declared) return fromFile;
  return {
    ...declared,
    input: reconcileSide('input', declared.input, facts.inputs, fromFile.input),
    output: reconcileSide('output', declared.output, facts.outputs, fromFile.output),
    method_details: { ...declared.method_details, ...fromFile.method_details },
  };
}

// float16 travels as float32 in the hub (schemas/codecs/tensors.ts); onnxruntime wants the raw half bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    if ((mantissa >> (shift - 1)) & 1 && (mantissa & ((1 << (shift - 1)) - 1) || half & 1)) half += 1;
    return sign | half;
  }
  let half = sign | (e << 10) | (mantissa >> 13);
  if (mantissa & 0x1000 && (mantissa & 0xfff || half & 1)) half += 1;
  return half;
}

export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

type OrtData = OrtTensor['data'];

const ORT_ARRAYS: Record<Exclude<Dtype, 'string'>, { new (data: ArrayLike<number> | ArrayLike<bigint>): TypedArray }> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array as never,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array as never,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
};

function toOrtData(name: string, tensor: Tensor): OrtData {
  const { dtype, data } = tensor;
  if (dtype === 'string') {
    if (!Array.isArray(data)) throw new HubError('INVALID_INPUTS', `input "${name}" is a string tensor without strings`);
    return data;
  }
  if (Array.isArray(data)) throw new HubError('INVALID_INPUTS', `input "${name}" is ${dtype} but holds strings`);
  if (dtype === 'float16' && !(data instanceof Uint16Array)) return Uint16Array.from(data as ArrayLike<number>, toHalfBits);
  const Wanted = ORT_ARRAYS[dtype];
  if (data instanceof Wanted) return data;
  // A typed array of another kind: convert, crossing between bigint and number arrays where needed.
  const bigWanted = dtype === 'int64' || dtype === 'uint64';
  const isBig = data instanceof BigInt64Array || data instanceof BigUint64Array;
  if (bigWanted === isBig) return new Wanted(data as ArrayLike<number>);
  if (bigWanted) return new Wanted(Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(v))) as never);
  return new Wanted(Array.from(data as ArrayLike<bigint>, Number));
}

/** An onnxruntime output as a hub tensor; takes any `{type, dims, data}` (a worker's reply too). */
export function fromOrtTensor(name: string, tensor: Pick<OrtTensor, 'type' | 'dims' | 'data'>): Tensor {
  const dtype = tensor.type as string;
  if (!(DTYPES as readonly string[]).includes(dtype)) {
    throw new HubError('SERVABLE_FAILED', `output "${name}" has element type ${dtype}, which the hub cannot carry`);
  }
  const shape = tensor.dims.map(Number);
  if (dtype === 'float16') {
    return { dtype, shape, data: Float32Array.from(tensor.data as Uint16Array, fromHalfBits) };
  }
  return { dtype: dtype as Dtype, shape, data: tensor.data as TypedArray | string[] };
}

/** What both ONNX runtimes check before a run: still loaded, tensors given, not aborted, not late. */
export function runnableTensors(disposed: boolean, input: ServableValue, options: RunOptions): Record<string, Tensor> {
  if (disposed) throw new HubError('NOT_READY', 'this ONNX session was unloaded');
  if (input.kind !== 'tensors') throw new HubError('INVALID_INPUTS', 'an ONNX model takes named tensors');
  options.signal?.throwIfAborted();
  if (options.deadline !== undefined && Date.now() > options.deadline) {
    throw new HubError('DEADLINE_EXCEEDED', 'before the ONNX model ran');
  }
  return input.tensors;
}

class OnnxServable implements Servable {
  readonly type = 'onnx' as const;
  readonly io = 'tensors' as const;
  private disposed = false;
  private inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly ortModule: Ort,
    private readonly session: InferenceSession,
    readonly memoryBytes: number,
  ) {}

  async run(input: ServableValue, options: RunOptions): Promise<ServableValue> {
    const given = runnableTensors(this.disposed, input, options);
    const feeds = this.feeds(given);
    const pending = this.session.run(feeds);
    this.inFlight.add(pending);
    let results: InferenceSession.ReturnType;
    try {
      results = await pending;
    } catch (error) {
      throw new HubError('SERVABLE_FAILED', `onnxruntime: ${messageOf(error)}`, { cause: error });
    } finally {
      this.inFlight.delete(pending);
    }
    const tensors: Record<string, Tensor> = {};
    for (const name of this.session.outputNames) {
      const value = results[name];
      if (value) tensors[name] = fromOrtTensor(name, value);
    }
    return { kind: 'tensors', tensors };
  }

  private feeds(given: Record<string, Tensor>): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = {};
    for (const feed of checkedFeeds(this.session.inputNames, this.session.inputMetadata, given)) {
      feeds[feed.name] = new this.ortModule.Tensor(feed.type, feed.data as never, feed.dims);
    }
    return feeds;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.session.release();
  }
}

function checkAgainstModel(meta: InferenceSession.ValueMetadata, tensor: Tensor): void {
  const size = tensor.shape.reduce((a, b) => a * b, 1);
  if (tensor.shape.some((d) => !Number.isInteger(d) || d < 0) || size !== tensor.data.length) {
    throw new HubError('INVALID_INPUTS', `input "${meta.name}" has ${tensor.data.length} values for shape [${tensor.shape.join(', ')}]`, {
      details: { input: meta.name },
    });
  }
  if (!meta.isTensor) return;
  if (meta.type !== tensor.dtype) {
    throw new HubError('INVALID_INPUTS', `input "${meta.name}" is ${tensor.dtype}, the model takes ${meta.type}`, {
      details: { input: meta.name, expected: meta.type, got: tensor.dtype },
    });
  }
  // An empty shape in onnxruntime's metadata is a scalar or an unknown shape: nothing to check.
  if (meta.shape.length === 0) return;
  const fixed = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
  const wrongRank = fixed.length !== tensor.shape.length;
  if (wrongRank || fixed.some((d, i) => d !== null && d !== tensor.shape[i])) {
    throw new HubError(
      'INVALID_INPUTS',
      `input "${meta.name}" has shape [${tensor.shape.join(', ')}], the model takes ${formatShape(fixed)}`,
      { details: { input: meta.name, expected: fixed, got: tensor.shape } },
    );
  }
}

/** One model input, checked and in the element layout onnxruntime wants, not yet an ort.Tensor. */
export interface OrtFeed {
  name: string;
  type: Dtype;
  data: OrtData;
  dims: number[];
}

/**
 * The given tensors matched to the model's inputs and checked against them (names, dtype, shape),
 * in the model's input order. Shared by the in-process runtime and the worker-thread one, so both
 * refuse the same inputs with the same errors.
 */
export function checkedFeeds(
  inputNames: readonly string[],
  inputMetadata: readonly InferenceSession.ValueMetadata[],
  given: Record<string, Tensor>,
): OrtFeed[] {
  const givenNames = Object.keys(given);
  // One input: a tensor under another name is still unambiguous.
  const lookup = (name: string): Tensor | undefined =>
    given[name] ?? (inputNames.length === 1 && givenNames.length === 1 ? given[givenNames[0]!] : undefined);
  const extra = givenNames.find((name) => !inputNames.includes(name));
  if (extra !== undefined && inputNames.length > 1) {
    throw new HubError('INVALID_INPUTS', `unknown input "${extra}"; the model takes ${inputNames.join(', ')}`, {
      details: { input: extra, expected: inputNames },
    });
  }
  const feeds: OrtFeed[] = [];
  // Inputs that share a named dimension (e.g. "batch") must agree on it, or onnxruntime fails
  // inside the graph; sizes of 1 may broadcast, as onnxruntime allows.
  const namedDims = new Map<string, { size: number; input: string }>();
  for (const meta of inputMetadata) {
    const tensor = lookup(meta.name);
    if (!tensor) {
      throw new HubError('INVALID_INPUTS', `missing input "${meta.name}"; the model takes ${inputNames.join(', ')}`, {
        details: { input: meta.name },
      });
    }
    checkAgainstModel(meta, tensor);
    if (meta.isTensor) {
      meta.shape.forEach((dim, i) => {
        if (typeof dim !== 'string' || dim === '' || tensor.shape[i] === undefined) return;
        const size = tensor.shape[i]!;
        const seen = namedDims.get(dim);
        if (!seen) namedDims.set(dim, { size, input: meta.name });
        else if (seen.size !== size && seen.size !== 1 && size !== 1) {
          throw new HubError('INVALID_INPUTS', `inputs "${seen.input}" and "${meta.name}" disagree on dimension "${dim}": ${seen.size} and ${size}`, {
            details: { input: meta.name, dimension: dim, expected: seen.size, got: size },
          });
        }
      });
    }
    feeds.push({ name: meta.name, type: tensor.dtype, data: toOrtData(meta.name, tensor), dims: tensor.shape });
  }
  return feeds;
}

export class OnnxRuntime implements ServableRuntime {
  readonly type = 'onnx' as const;

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await loadOrt();
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: `onnxruntime-node cannot be loaded: ${messageOf(error)}` };
    }
  }

  async inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    const file = resolveModelFile(files, declared.model_file);
    // Both in a worker thread: decoding the protobuf takes seconds for a large model, and
    // onnxruntime-node opens a session synchronously on the calling thread.
    const facts = await inspectOnnxFileOffThread(file.localPath);
    const run = reconcileRunMethod(declared.methods.run, facts);
    // The file decodes; whether onnxruntime accepts its operators and initializers only a session tells.
    await checkOnnxSessionOffThread(file.localPath, file.path, SESSION_OPTIONS);
    const warnings = [...facts.inputs, ...facts.outputs]
      .filter((info) => info.unknownRank)
      .map((info) => `"${info.name}" has no shape in the model file; its rank is not checked`);
    return {
      servable: { ...declared, model_file: file.path, methods: { ...declared.methods, run } },
      facts: { format: 'onnx', model_file: file.path, ...facts },
      warnings,
    };
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    const file = resolveModelFile(files, document.servable.model_file);
    const ortModule = await ort();
    let session: InferenceSession;
    try {
      session = await ortModule.InferenceSession.create(file.localPath, SESSION_OPTIONS);
    } catch (error) {
      throw new HubError('SERVABLE_FAILED', `onnxruntime cannot load ${file.path}: ${messageOf(error)}`, { cause: error });
    }
    return new OnnxServable(ortModule, session, 2 * file.size + 1024 * 1024);
  }
}
