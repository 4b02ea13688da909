/**
 * An ONNX model file. `create` reads the graph's inputs and outputs so the `run` method's types are
 * declared before publishing; the hub inspects the file again on its side.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Method } from '../../schemas/metadata.ts';
import type { OnnxFacts } from '../../servables/onnx-inspect.ts';
import { ServableDescription } from './servable-description.ts';

export class OnnxModel extends ServableDescription {
  /** What the file says: inputs, outputs, opset, producer. */
  readonly facts: OnnxFacts;

  private constructor(facts: OnnxFacts, run: Method, modelFile: string) {
    super({ type: 'onnx', model_file: modelFile, methods: { run } });
    this.facts = facts;
  }

  /** Reads and inspects `modelPath`; throws (code MODELHUB_INVALID_MODEL) when it is not ONNX. */
  static async create(modelPath: string): Promise<OnnxModel> {
    // The hub's own ONNX reader (protobuf), loaded only when a caller describes an ONNX file.
    const { inspectOnnxBytes, onnxFactsToMethod } = await import('../../servables/onnx-inspect.ts');
    const facts = inspectOnnxBytes(await readFile(modelPath));
    const fileName = path.basename(modelPath);
    const model = new OnnxModel(facts, onnxFactsToMethod(facts), fileName);
    model.addFile(modelPath, fileName);
    if (facts.docString) model.setDescription(facts.docString);
    return model;
  }
}
