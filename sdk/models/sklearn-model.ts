/**
 * A scikit-learn estimator saved with pickle or joblib. `run` calls `predict`; a classifier with
 * `predict_proba` gets that as a second method. The hub reads the number of features and the
 * classes from the estimator; `create` can read them here too, with Python.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ServableBlock } from '../../schemas/metadata.ts';
import { requirementsNextTo } from './requirements.ts';
import { ServableDescription } from './servable-description.ts';

export interface SklearnModelOptions {
  /** Columns of the input; checked against the estimator's `n_features_in_`. */
  nFeatures?: number;
  /** Class labels in the estimator's order; checked against its `classes_`. */
  classes?: (string | number)[];
  /** How the file was written; by default joblib's loader, which reads both. */
  serialization?: 'pickle' | 'joblib';
  /**
   * Unpickle the estimator here with Python (`MODELHUB_PYTHON` or /usr/bin/python3) to fill in the
   * types and catch a damaged file before uploading. Default true; skipped, leaving the types to the
   * hub, when that Python lacks scikit-learn.
   */
  inspect?: boolean;
}

export class SklearnModel extends ServableDescription {
  /** What the estimator says: class, n_features_in, classes, library versions. */
  readonly facts: Record<string, unknown>;

  private constructor(servable: ServableBlock, facts: Record<string, unknown>) {
    super(servable);
    this.facts = facts;
  }

  static async create(modelPath: string, options: SklearnModelOptions = {}): Promise<SklearnModel> {
    const fileName = path.basename(modelPath);
    const serialization = options.serialization ?? (path.extname(fileName) === '.joblib' ? 'joblib' : undefined);
    let servable: ServableBlock = {
      type: 'sklearn',
      model_file: fileName,
      methods: {
        run: {
          input:
            options.nFeatures !== undefined
              ? { type: 'ndarray', shape: [null, options.nFeatures], dtype: 'float64' }
              : { type: 'any' },
          output: { type: 'any' },
          method_details: { method_name: 'predict' },
        },
      },
      ...(options.classes || serialization
        ? { runtime: { ...(options.classes ? { classes: options.classes } : {}), ...(serialization ? { serialization } : {}) } }
        : {}),
    };
    let facts: Record<string, unknown> = {};
    if (options.inspect !== false) {
      // The hub's Python inspection (a worker process) loads only when a model is inspected.
      const { PythonRuntime } = await import('../../servables/python-runtime.ts');
      const runtime = new PythonRuntime('sklearn', { python: process.env.MODELHUB_PYTHON });
      if ((await runtime.available()).ok) {
        const file = { path: fileName, localPath: path.resolve(modelPath), sha256: '', size: (await stat(modelPath)).size };
        const inspection = await runtime.inspect([file], servable);
        servable = inspection.servable;
        facts = inspection.facts;
      }
    }
    const model = new SklearnModel(servable, facts).addFile(modelPath, fileName);
    // A requirements.txt beside the model declares its environment (setRequirements overrides it).
    const requirements = requirementsNextTo(modelPath);
    return requirements ? model.setRequirements(requirements) : model;
  }
}
