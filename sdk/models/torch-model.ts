/**
 * A TorchScript module (`torch.jit.script(m).save(path)` or `torch.jit.trace`). Inputs are turned
 * into tensors of the declared dtype and outputs back into nested lists. A plain `torch.save` of a
 * state dict is not servable: it has no code.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Dtype, ServableBlock } from '../../schemas/metadata.ts';
import { requirementsNextTo } from './requirements.ts';
import { ServableDescription } from './servable-description.ts';

export interface TorchModelOptions {
  /** The input's shape; null for dynamic dimensions (a leading null is the batch). */
  inputShape: (number | null)[];
  /** The input's element type. Default float32. */
  dtype?: Dtype;
  /**
   * Load the module here with Python (`MODELHUB_PYTHON` or /usr/bin/python3) and run zeros of the
   * input shape through it to fill in the output type. Default true; skipped, leaving it to the
   * hub, when that Python lacks torch.
   */
  inspect?: boolean;
}

export class TorchModel extends ServableDescription {
  /** What the module says: forward's schema, output shape and dtype. */
  readonly facts: Record<string, unknown>;

  private constructor(servable: ServableBlock, facts: Record<string, unknown>) {
    super(servable);
    this.facts = facts;
  }

  static async create(modelPath: string, options: TorchModelOptions): Promise<TorchModel> {
    const fileName = path.basename(modelPath);
    let servable: ServableBlock = {
      type: 'torch',
      model_file: fileName,
      methods: {
        run: {
          input: { type: 'ndarray', shape: [...options.inputShape], dtype: options.dtype ?? 'float32' },
          output: { type: 'any' },
        },
      },
    };
    let facts: Record<string, unknown> = {};
    if (options.inspect !== false) {
      // The hub's Python inspection (a worker process) loads only when a model is inspected.
      const { PythonRuntime } = await import('../../servables/python-runtime.ts');
      const runtime = new PythonRuntime('torch', { python: process.env.MODELHUB_PYTHON });
      if ((await runtime.available()).ok) {
        const file = { path: fileName, localPath: path.resolve(modelPath), sha256: '', size: (await stat(modelPath)).size };
        const inspection = await runtime.inspect([file], servable);
        servable = inspection.servable;
        facts = inspection.facts;
      }
    }
    const model = new TorchModel(servable, facts).addFile(modelPath, fileName);
    // A requirements.txt beside the model declares its environment (setRequirements overrides it).
    const requirements = requirementsNextTo(modelPath);
    return requirements ? model.setRequirements(requirements) : model;
  }
}
