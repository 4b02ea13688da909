/**
 * A Python function or a class method served by a pool of long-lived Python workers (DLHub's
 * `PythonStaticMethodModel` and `PythonClassMethodModel`). The module is a `.py` file uploaded with
 * the servable, or the name of a module the hub's interpreter can import.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ArgumentType, ServableBlock } from '../../schemas/metadata.ts';
import { requirementsNextTo } from './requirements.ts';
import { ServableDescription } from './servable-description.ts';

export interface PythonFunctionOptions {
  /** A local `.py` file (uploaded, imported by its base name) or a module name (`pkg.mod`). */
  module: string;
  /** The function `run` calls. */
  function?: string;
  /** A class instantiated once per worker with `initArgs` as keyword arguments ... */
  className?: string;
  /** ... whose method `run` calls (default `run`). */
  methodName?: string;
  initArgs?: Record<string, unknown>;
  /** More local files or folders the servable needs (data, sibling modules, model weights). */
  files?: string[];
  inputType?: ArgumentType;
  outputType?: ArgumentType;
  /** Spread a dict of inputs as keyword arguments, a list as positional arguments. */
  unpackInputs?: boolean;
  /** The function takes one item; the worker maps it over the list of inputs. */
  autobatch?: boolean;
  /** Per-call limit on the hub. */
  timeoutMs?: number;
  /**
   * Import the module here with Python (`MODELHUB_PYTHON` or /usr/bin/python3) to check it and read
   * its signature. Off by default: the module may need packages only the hub has.
   */
  inspect?: boolean;
}

const ANY: ArgumentType = { type: 'any' };

export class PythonFunction extends ServableDescription {
  /** What a local inspection found (signature, docstring); empty without `inspect`. */
  readonly facts: Record<string, unknown>;

  private constructor(servable: ServableBlock, facts: Record<string, unknown>) {
    super(servable);
    this.facts = facts;
  }

  static async create(options: PythonFunctionOptions): Promise<PythonFunction> {
    if (!options.function && !options.className) {
      throw new TypeError('PythonFunction.create needs `function` or `className`');
    }
    if (options.function && options.className) {
      throw new TypeError('PythonFunction.create takes `function` or `className`, not both');
    }
    const localModule = options.module.endsWith('.py') && existsSync(options.module);
    if (options.module.endsWith('.py') && !localModule) throw new TypeError(`module file ${options.module} does not exist`);
    const moduleName = localModule ? path.basename(options.module) : options.module;
    let servable: ServableBlock = {
      type: 'python',
      python: {
        module: moduleName,
        ...(options.function ? { function: options.function } : {}),
        ...(options.className ? { class_name: options.className } : {}),
        ...(options.methodName ? { method: options.methodName } : {}),
        ...(options.initArgs ? { init_args: options.initArgs } : {}),
      },
      methods: { run: { input: options.inputType ?? ANY, output: options.outputType ?? ANY } },
    };
    const pythonOptions = {
      ...(options.unpackInputs !== undefined ? { unpack_inputs: options.unpackInputs } : {}),
      ...(options.autobatch !== undefined ? { autobatch: options.autobatch } : {}),
      ...(options.timeoutMs !== undefined ? { timeout_ms: options.timeoutMs } : {}),
    };
    if (Object.keys(pythonOptions).length > 0) servable.options = pythonOptions;

    const draft = new PythonFunction(servable, {});
    if (localModule) draft.addFile(options.module, moduleName);
    for (const file of options.files ?? []) {
      if (statSync(file).isDirectory()) draft.addDirectory(file, path.basename(path.resolve(file)));
      else draft.addFile(file);
    }
    let facts: Record<string, unknown> = {};
    if (options.inspect) {
      const files = draft.files().map((file) => ({ ...file, sha256: '', size: statSync(file.localPath).size }));
      // The hub's Python inspection (a worker process) loads only when a model is inspected.
      const { PythonRuntime } = await import('../../servables/python-runtime.ts');
      const inspection = await new PythonRuntime('python', { python: process.env.MODELHUB_PYTHON }).inspect(files, servable);
      servable = inspection.servable;
      facts = inspection.facts;
    }
    const model = new PythonFunction(servable, facts);
    for (const file of draft.files()) model.addFile(file.localPath, file.path);
    // A requirements.txt beside the module declares its environment (setRequirements overrides it).
    const requirements = localModule ? requirementsNextTo(options.module) : undefined;
    if (requirements) model.setRequirements(requirements);
    return model;
  }

  /** DLHub's `unpack_inputs`: a dict of inputs becomes keyword arguments, a list positional ones. */
  setUnpackInputs(unpack: boolean): this {
    this.servable.options = { ...this.servable.options, unpack_inputs: unpack };
    return this;
  }

  /** DLHub's `autobatch`: the function takes one item and the worker maps it over a list. */
  setAutobatch(autobatch: boolean): this {
    this.servable.options = { ...this.servable.options, autobatch };
    return this;
  }

  /** The per-call limit on the hub; a call past it fails and its worker is replaced. */
  setTimeoutMs(timeoutMs: number): this {
    this.servable.options = { ...this.servable.options, timeout_ms: timeoutMs };
    return this;
  }
}
