/**
 * The runtime behind `python`, `sklearn` and `torch` servables. Inspection starts a short-lived
 * worker that imports or unpickles the files and reports what they say; loading starts a pool of
 * long-lived workers that keep the servable in memory. Both run publisher code: this runner
 * isolates it in its own process (with a memory limit), not in a sandbox.
 */
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { HubError } from '../schemas/errors.ts';
import type { ArgumentType, Dtype, Method, PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import {
  DEFAULT_PYTHON,
  PythonWorkerPool,
  loadError,
  runOnce,
  type LoadReport,
  type PythonWorkerPoolOptions,
  type WorkerSpec,
} from './python-worker-pool.ts';
import { tensorToJson } from '../schemas/codecs/tensors.ts';
import { resolveEnvironment } from './environments.ts';
import type { ProcessEnvironments } from './process-environments.ts';
import type {
  InspectionResult,
  LocalFile,
  RunOptions,
  Servable,
  ServableRuntime,
  ServableValue,
} from '../schemas/ports/servable.ts';

export type PythonServableType = 'python' | 'sklearn' | 'torch';
export const PYTHON_SERVABLE_TYPES: readonly PythonServableType[] = ['python', 'sklearn', 'torch'];

export interface PythonRuntimeOptions extends PythonWorkerPoolOptions {
  /** Limit for the publish-time inspection worker (import, unpickle, warm-up). Default 120 s. */
  inspectTimeoutMs?: number;
  /**
   * Builds the venvs of declared environments (`servable.environment`, requirements.txt ...);
   * without it a servable that declares one is refused.
   */
  environments?: ProcessEnvironments;
}

/** What inspect gives, plus the worker's Python dependencies for `hub.dependencies`. */
export interface PythonInspectionResult extends InspectionResult {
  dependencies: Record<string, unknown>;
}

const MODEL_EXTENSIONS: Record<'sklearn' | 'torch', string[]> = {
  sklearn: ['.pkl', '.pickle', '.joblib', '.sav', '.pk'],
  torch: ['.pt', '.pth', '.ts', '.torchscript', '.ptl'],
};

/** The module each type needs in the interpreter, checked by `available()`. */
const REQUIRED_MODULE: Record<PythonServableType, string | undefined> = {
  python: undefined,
  sklearn: 'sklearn',
  torch: 'torch',
};

interface Materialized {
  dir: string;
  cleanup: () => Promise<void>;
}

/**
 * A folder in which the servable's files sit under their published paths, as Python's imports
 * expect. Files already laid out that way are used where they are; otherwise they are linked into
 * a temporary folder.
 */
export async function materialize(files: LocalFile[]): Promise<Materialized> {
  if (files.length === 0) throw new HubError('INVALID_MODEL', 'the servable has no files');
  for (const file of files) {
    const normal = path.posix.normalize(file.path);
    if (path.isAbsolute(normal) || normal.startsWith('../') || normal === '..') {
      throw new HubError('INVALID_MODEL', `file path ${file.path} escapes the servable's folder`);
    }
  }
  const roots = new Set(
    files.map((file) => {
      const local = path.resolve(file.localPath);
      const suffix = path.sep + path.normalize(file.path);
      return local.endsWith(suffix) ? local.slice(0, -suffix.length) : undefined;
    }),
  );
  const [root] = roots;
  if (roots.size === 1 && root !== undefined) return { dir: root, cleanup: async () => {} };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'modelhub-python-'));
  for (const file of files) {
    const target = path.join(dir, path.normalize(file.path));
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await fsp.symlink(path.resolve(file.localPath), target);
  }
  return { dir, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

function pickModelFile(type: 'sklearn' | 'torch', block: ServableBlock, files: LocalFile[]): string {
  if (block.model_file) {
    if (!files.some((file) => file.path === block.model_file)) {
      throw new HubError('INVALID_METADATA', `servable.model_file ${block.model_file} is not among the uploaded files`);
    }
    return block.model_file;
  }
  const candidates = files.filter((file) => MODEL_EXTENSIONS[type].includes(path.extname(file.path).toLowerCase()));
  if (candidates.length === 1) return candidates[0]!.path;
  if (files.length === 1) return files[0]!.path;
  throw new HubError(
    'INVALID_METADATA',
    `cannot tell which file is the ${type} model among ${files.map((f) => f.path).join(', ')}: set servable.model_file`,
  );
}

/** The Python names of the hub methods other than run (`method_details.method_name`, DLHub's key). */
function methodNames(block: ServableBlock): Record<string, string> | undefined {
  const names: Record<string, string> = {};
  for (const [name, method] of Object.entries(block.methods)) {
    const pythonName = method.method_details?.method_name;
    if (name !== 'run' && typeof pythonName === 'string') names[name] = pythonName;
  }
  return Object.keys(names).length > 0 ? names : undefined;
}

function inputDtypes(input: ArgumentType): WorkerSpec['input_dtype'] {
  if (input.type === 'ndarray') return input.dtype;
  if (input.type === 'tuple' || input.type === 'list') {
    const items = input.type === 'tuple' ? input.element_types : [input.item_type];
    const dtypes = items.map((item) => (item.type === 'ndarray' ? item.dtype : 'float32'));
    return input.type === 'tuple' ? dtypes : dtypes[0];
  }
  if (input.type === 'dict') {
    return Object.fromEntries(
      Object.entries(input.properties).map(([key, item]) => [key, item.type === 'ndarray' ? item.dtype : 'float32']),
    );
  }
  return undefined;
}

/** The worker's spec for a servable block whose files sit in `filesDir`. */
export function workerSpec(
  type: PythonServableType,
  block: ServableBlock,
  files: LocalFile[],
  filesDir: string,
): WorkerSpec {
  const run = block.methods.run;
  const common = {
    files_dir: filesDir,
    unpack_inputs: block.options?.unpack_inputs,
    autobatch: block.options?.autobatch,
    methods: methodNames(block),
  };
  if (type === 'python') {
    const python = block.python;
    if (!python?.module) throw new HubError('INVALID_METADATA', 'a python servable needs servable.python.module');
    if (!python.function && !python.class_name) {
      throw new HubError('INVALID_METADATA', 'a python servable needs servable.python.function or servable.python.class_name');
    }
    return {
      kind: 'python',
      ...common,
      module: python.module,
      function: python.function,
      class_name: python.class_name,
      method: python.method,
      init_args: python.init_args,
    };
  }
  const modelFile = pickModelFile(type, block, files);
  const runtime = block.runtime ?? {};
  const serialization = runtime.serialization === 'pickle' || runtime.serialization === 'joblib' ? runtime.serialization : undefined;
  return {
    kind: type,
    ...common,
    model_file: modelFile,
    method: typeof run.method_details?.method_name === 'string' ? run.method_details.method_name : undefined,
    serialization,
    input_dtype: inputDtypes(run.input),
    input_shape: run.input.type === 'ndarray' ? run.input.shape : undefined,
  };
}

const isAny = (type: ArgumentType | undefined) => type === undefined || type.type === 'any';

const withDescription = (type: ArgumentType, declared: ArgumentType): ArgumentType =>
  declared.description ? { ...type, description: declared.description } : type;

function sameValues(a: unknown[], b: unknown[]): boolean {
  return a.length === b.length && a.every((value, i) => String(value) === String(b[i]));
}

interface SklearnFacts {
  estimator: string;
  is_classifier: boolean;
  methods: string[];
  n_features_in?: number;
  classes?: unknown[];
  classes_dtype?: Dtype;
  output_dtype?: Dtype;
  output_shape?: (number | null)[];
  predict_proba_shape?: (number | null)[];
}

function completeSklearn(declared: ServableBlock, facts: SklearnFacts, modelFile: string): ServableBlock {
  const run = declared.methods.run;
  const n = facts.n_features_in;
  let input = run.input;
  if (input.type === 'ndarray') {
    const width = input.shape[input.shape.length - 1];
    if (n !== undefined && input.shape.length === 2 && width !== null && width !== n) {
      throw new HubError(
        'INVALID_METADATA',
        `the declared input has ${width} features, but ${modelFile} (${facts.estimator}) was fitted on ${n}`,
      );
    }
    if (n !== undefined && input.shape.length === 2 && width === null) input = { ...input, shape: [input.shape[0] ?? null, n] };
  } else if (isAny(input) && n !== undefined) {
    input = withDescription({ type: 'ndarray', shape: [null, n], dtype: 'float64' }, input);
  }
  const declaredClasses = declared.runtime?.classes;
  if (Array.isArray(declaredClasses) && facts.classes && !sameValues(declaredClasses, facts.classes)) {
    throw new HubError(
      'INVALID_METADATA',
      `the declared classes [${declaredClasses.join(', ')}] differ from the model's classes_ [${facts.classes.join(', ')}]`,
    );
  }
  let output = run.output;
  const outputDtype = facts.classes_dtype ?? facts.output_dtype;
  if (isAny(output) && outputDtype) {
    output = withDescription({ type: 'ndarray', shape: facts.output_shape ?? [null], dtype: outputDtype }, output);
  }
  const methods: Record<string, Method> & { run: Method } = {
    ...declared.methods,
    run: { ...run, input, output, method_details: { method_name: 'predict', ...run.method_details } },
  };
  if (facts.methods.includes('predict_proba') && !methods['predict_proba'] && facts.predict_proba_shape) {
    methods['predict_proba'] = {
      input,
      output: { type: 'ndarray', shape: facts.predict_proba_shape, dtype: 'float64' },
      method_details: { method_name: 'predict_proba' },
      description: 'class probabilities, one column per class in the order of classes_',
    };
  }
  return {
    ...declared,
    model_file: modelFile,
    methods,
    runtime: { ...declared.runtime, ...(facts.classes ? { classes: facts.classes } : {}) },
  };
}

interface TorchFacts {
  output_dtype?: string;
  output_shape?: (number | null)[];
}

const TORCH_DTYPES = new Set<string>(['bool', 'uint8', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64']);

function completeTorch(declared: ServableBlock, facts: TorchFacts, modelFile: string, warnings: string[]): ServableBlock {
  const run = declared.methods.run;
  let output = run.output;
  const dtype = facts.output_dtype && TORCH_DTYPES.has(facts.output_dtype) ? (facts.output_dtype as Dtype) : undefined;
  if (facts.output_shape && dtype) {
    const found: ArgumentType = { type: 'ndarray', shape: facts.output_shape, dtype };
    if (output.type === 'ndarray') {
      const fits =
        output.shape.length === found.shape.length &&
        output.shape.every((d, i) => d === null || found.shape[i] === null || d === found.shape[i]);
      if (!fits) {
        throw new HubError(
          'INVALID_METADATA',
          `the declared output shape [${output.shape.map((d) => d ?? 'null').join(', ')}] differs from what ${modelFile} gave: [${found.shape.map((d) => d ?? 'null').join(', ')}]`,
        );
      }
    } else if (isAny(output)) {
      output = withDescription(found, output);
    }
  }
  if (isAny(run.input)) {
    warnings.push('the input has no declared shape and dtype: inputs are not checked before the model runs, and no warm-up ran at inspection');
  }
  return { ...declared, model_file: modelFile, methods: { ...declared.methods, run: { ...run, output } } };
}

interface PythonFacts {
  input_type?: ArgumentType;
  output_type?: ArgumentType;
}

function completePython(declared: ServableBlock, facts: PythonFacts): ServableBlock {
  const run = declared.methods.run;
  const input = isAny(run.input) && facts.input_type ? withDescription(facts.input_type, run.input) : run.input;
  const output = isAny(run.output) && facts.output_type ? withDescription(facts.output_type, run.output) : run.output;
  return { ...declared, methods: { ...declared.methods, run: { ...run, input, output } } };
}

/** JSON in for the worker: a JSON value as is; tensors as nested lists (one) or an object of them. */
function toWorkerInputs(input: ServableValue): unknown {
  if (input.kind === 'json') return input.value;
  const entries = Object.entries(input.tensors);
  if (entries.length === 1) return tensorToJson(entries[0]![1]);
  return Object.fromEntries(entries.map(([name, tensor]) => [name, tensorToJson(tensor)]));
}

class PythonServable implements Servable {
  readonly io = 'json' as const;

  constructor(
    readonly type: PythonServableType,
    private readonly pool: PythonWorkerPool,
    private readonly files: Materialized,
    private readonly methods: Record<string, Method>,
    readonly loadReport: LoadReport,
  ) {}

  get memoryBytes(): number {
    return this.pool.memoryBytes;
  }

  /** Process ids of the live workers. */
  get pids(): number[] {
    return this.pool.pids;
  }

  async run(input: ServableValue, options: RunOptions): Promise<ServableValue> {
    const method = options.method ?? 'run';
    if (!this.methods[method]) {
      throw new HubError('BAD_REQUEST', `the servable has no method ${method}; it has ${Object.keys(this.methods).join(', ')}`);
    }
    const output = await this.pool.call(method, toWorkerInputs(input), options.parameters ?? {}, {
      deadline: options.deadline,
      signal: options.signal,
    });
    return { kind: 'json', value: output };
  }

  async dispose(): Promise<void> {
    await this.pool.close();
    await this.files.cleanup();
  }
}

const AVAILABILITY = new Map<string, Promise<{ ok: boolean; reason?: string }>>();

export class PythonRuntime implements ServableRuntime {
  constructor(
    readonly type: PythonServableType,
    private readonly options: PythonRuntimeOptions = {},
  ) {}

  private get python(): string {
    return this.options.python ?? DEFAULT_PYTHON;
  }

  /** Whether the interpreter starts and has the type's library (sklearn, torch); asked once per process. */
  available(): Promise<{ ok: boolean; reason?: string }> {
    const key = `${this.python}\0${this.type}`;
    let availability = AVAILABILITY.get(key);
    if (!availability) {
      availability = this.probe();
      AVAILABILITY.set(key, availability);
    }
    return availability;
  }

  private probe(): Promise<{ ok: boolean; reason?: string }> {
    return new Promise((resolve) => {
      const module = REQUIRED_MODULE[this.type];
      const child = spawn(this.python, ['-c', module ? `import ${module}` : 'pass'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', (error) => resolve({ ok: false, reason: `${this.python} cannot start: ${error.message}` }));
      child.on('close', (code) => {
        if (code === 0) resolve({ ok: true });
        else resolve({ ok: false, reason: `${this.python} cannot import ${module}: ${stderr.trim().split('\n').pop()}` });
      });
    });
  }

  /**
   * The interpreter of a servable: its declared environment's venv (built now if it is not there,
   * e.g. on a data folder moved to another machine), or the hub's own.
   */
  private async interpreterFor(environment: ServableBlock['environment'], log?: (line: string) => void): Promise<string | undefined> {
    if (!environment?.python?.length && !environment?.debian?.length) return undefined;
    if (!this.options.environments) {
      // Inspection on a publisher's machine (the SDK): its own interpreter is the environment.
      log?.(`environment: not built here; using ${this.python}`);
      return undefined;
    }
    return (await this.options.environments.ensure(environment, log))?.interpreter;
  }

  async prepareEnvironment(files: LocalFile[], declared: ServableBlock, log: (line: string) => void): Promise<string> {
    const resolved = await resolveEnvironment(declared.environment, files);
    for (const warning of resolved.warnings) log(`warning: ${warning}`);
    const environment = resolved.environment;
    if (!environment) return `none declared: the hub's interpreter (${this.python})`;
    log(`from ${resolved.source}: ${[...(environment.python ?? []), ...(environment.debian ?? []).map((p) => `${p} (Debian)`)].join(', ')}`);
    if (!this.options.environments) return `not built here: ${this.python}`;
    const built = await this.options.environments.ensure(environment, log);
    if (!built) return 'nothing to install on the host (the Debian packages go into the image)';
    return `${built.built ? 'built' : 'reused'} venv ${built.hash} with ${environment.python!.join(', ')}`;
  }

  async inspect(files: LocalFile[], declared: ServableBlock, log: (line: string) => void = () => undefined): Promise<PythonInspectionResult> {
    await this.requireAvailable();
    // prepareEnvironment built it (the publish's environment step); elsewhere (the SDK) this does.
    const resolved = await resolveEnvironment(declared.environment, files);
    const python = await this.interpreterFor(resolved.environment, log);
    const materialized = await materialize(files);
    try {
      const spec = workerSpec(this.type, declared, files, materialized.dir);
      const subject = spec.model_file ?? spec.module ?? 'the servable';
      let report: { facts: Record<string, unknown>; dependencies: Record<string, unknown>; warnings: string[] };
      try {
        report = await runOnce('inspect', spec, { ...this.options, python: python ?? this.python, timeoutMs: this.options.inspectTimeoutMs });
      } catch (error) {
        throw loadError(error, subject);
      }
      const warnings = [...report.warnings];
      let servable: ServableBlock;
      if (this.type === 'sklearn') {
        servable = completeSklearn(declared, report.facts as unknown as SklearnFacts, subject);
      } else if (this.type === 'torch') {
        servable = completeTorch(declared, report.facts as TorchFacts, subject, warnings);
      } else {
        servable = completePython(declared, report.facts as PythonFacts);
      }
      // The environment found in the files is recorded, so that loading uses the same venv.
      if (resolved.environment) servable = { ...servable, environment: resolved.environment };
      return {
        servable,
        facts: { ...report.facts, dependencies: report.dependencies },
        warnings,
        dependencies: report.dependencies,
      };
    } finally {
      await materialized.cleanup();
    }
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    await this.requireAvailable();
    const materialized = await materialize(files);
    try {
      const block = document.servable;
      const spec = workerSpec(this.type, block, files, materialized.dir);
      const python = await this.interpreterFor(block.environment);
      const pool = new PythonWorkerPool(spec, {
        ...this.options,
        python: python ?? this.python,
        timeoutMs: block.options?.timeout_ms ?? this.options.timeoutMs,
      });
      const report = await pool.start();
      return new PythonServable(this.type, pool, materialized, block.methods, report);
    } catch (error) {
      await materialized.cleanup();
      throw error;
    }
  }

  private async requireAvailable(): Promise<void> {
    const { ok, reason } = await this.available();
    if (!ok) throw new HubError('RUNTIME_UNAVAILABLE', `${this.type}: ${reason}`);
  }
}

/** The three runtimes, sharing one set of options, for the hub's runtime map. */
export function createPythonRuntimes(options: PythonRuntimeOptions = {}): PythonRuntime[] {
  return PYTHON_SERVABLE_TYPES.map((type) => new PythonRuntime(type, options));
}
