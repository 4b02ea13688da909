/**
 * A Keras model file: a Keras 2 `.h5` (`model.save('x.h5')`) or a Keras 3 `.keras` archive.
 * `create` rebuilds the model locally as the hub will (TensorFlow.js on wasm), so the `run`
 * method's types are declared and a layer the hub cannot build is reported before uploading.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ServableBlock } from '../../schemas/metadata.ts';
import { ServableDescription } from './servable-description.ts';

const UNDECLARED: ServableBlock = { type: 'keras', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } };

export class KerasModel extends ServableDescription {
  /** What the file says: Keras version, format, layers, parameter count. */
  readonly facts: Record<string, unknown>;

  private constructor(servable: ServableBlock, facts: Record<string, unknown>) {
    super(servable);
    this.facts = facts;
  }

  /**
   * Reads and rebuilds `modelPath`; throws (code MODELHUB_INVALID_MODEL) when it is not a Keras
   * model TensorFlow.js can build. `{ inspect: false }` skips the local rebuild and leaves the
   * types for the hub to fill in.
   */
  static async create(modelPath: string, options: { inspect?: boolean } = {}): Promise<KerasModel> {
    const fileName = path.basename(modelPath);
    let servable: ServableBlock = { ...UNDECLARED, model_file: fileName };
    let facts: Record<string, unknown> = {};
    if (options.inspect !== false) {
      const file = { path: fileName, localPath: path.resolve(modelPath), sha256: '', size: (await stat(modelPath)).size };
      // The hub's Keras rebuild (TensorFlow.js, h5wasm) loads only when a file is inspected.
      const { KerasRuntime } = await import('../../servables/keras-runtime.ts');
      const inspection = await new KerasRuntime().inspect([file], servable);
      servable = { type: 'keras', model_file: fileName, methods: { run: inspection.servable.methods.run } };
      facts = inspection.facts;
    }
    return new KerasModel(servable, facts).addFile(modelPath, fileName);
  }
}
