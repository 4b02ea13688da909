/**
 * A TensorFlow.js model folder: `model.json` and its weight shards, a LayersModel or a GraphModel.
 * `create` loads it locally as the hub will, so the `run` method's types are declared and missing
 * or damaged weights are reported before uploading.
 */
import type { ServableBlock } from '../../schemas/metadata.ts';
import { ServableDescription } from './servable-description.ts';

export class TfjsModel extends ServableDescription {
  /** What the model says: format, converter, weight size. */
  readonly facts: Record<string, unknown>;

  private constructor(servable: ServableBlock, facts: Record<string, unknown>) {
    super(servable);
    this.facts = facts;
  }

  /**
   * Adds every file under `dir`; `modelFile` picks the model JSON when it is not `model.json` or the
   * folder's only JSON file. Throws (code MODELHUB_INVALID_MODEL) when tfjs cannot load it;
   * `{ inspect: false }` leaves the types for the hub to fill in.
   */
  static async create(dir: string, options: { modelFile?: string; inspect?: boolean } = {}): Promise<TfjsModel> {
    const draft = new TfjsModel({ type: 'tfjs', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } }, {});
    draft.addDirectory(dir, '', { exclude: (relative) => relative.split('/').some((part) => part.startsWith('.')) });
    const files = draft.files().map((file) => ({ ...file, sha256: '', size: 0 }));
    // TensorFlow.js loads only when a caller describes a TensorFlow.js model.
    const { pickModelJson, TfjsRuntime } = await import('../../servables/tfjs-runtime.ts');
    const modelFile = pickModelJson(files, options.modelFile).path;
    let servable: ServableBlock = { type: 'tfjs', model_file: modelFile, methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } };
    let facts: Record<string, unknown> = {};
    if (options.inspect !== false) {
      const inspection = await new TfjsRuntime().inspect(files, servable);
      servable = { type: 'tfjs', model_file: modelFile, methods: { run: inspection.servable.methods.run } };
      facts = inspection.facts;
    }
    const model = new TfjsModel(servable, facts);
    for (const file of draft.files()) model.addFile(file.localPath, file.path);
    return model;
  }
}
