/**
 * TensorFlow SavedModel servables (type `tf-savedmodel`): a folder with `saved_model.pb` and
 * `variables/`. Only libtensorflow runs them, through `@tensorflow/tfjs-node`, an optional
 * dependency that cannot install on every machine (its install downloads libtensorflow). Where it
 * is absent the runtime says so at inspect and in `available()`; nothing falls back silently.
 */
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import type { InspectionResult, LocalFile, Servable, ServableRuntime } from '../schemas/ports/servable.ts';
import { applyDeclaredDtypes, dtypeFromTfjs, inspectRunner, TfjsServable, warmUp, type TensorSpec, type TfjsRunner } from './tfjs-runtime.ts';
import type { tf } from './tfjs-backend.ts';

export const TFJS_NODE_MISSING = 'TensorFlow SavedModel needs @tensorflow/tfjs-node, which is not installed on this hub';

/** The parts of tfjs-node this runtime uses. */
interface TfjsNode {
  node: {
    loadSavedModel(dir: string, tags?: string[], signature?: string): Promise<TfjsNodeSavedModel>;
    getMetaGraphsFromSavedModel(dir: string): Promise<{ tags: string[]; signatureDefs: Record<string, { inputs: Record<string, NodeTensorInfo>; outputs: Record<string, NodeTensorInfo> }> }[]>;
  };
  getBackend(): string;
}
interface NodeTensorInfo { name: string; shape: number[]; dtype: string }
interface TfjsNodeSavedModel {
  inputs: NodeTensorInfo[];
  outputs: NodeTensorInfo[];
  predict(inputs: Record<string, tf.Tensor>): tf.Tensor | tf.Tensor[] | Record<string, tf.Tensor>;
  dispose(): void;
}

// A variable keeps bundlers and tsc from resolving a package that is normally absent.
const TFJS_NODE = '@tensorflow/tfjs-node';

let loaded: Promise<TfjsNode | undefined> | undefined;

/**
 * tfjs-node, or undefined where it is not installed (or its native library does not load). Where it
 * loads it registers its `tensorflow` backend with the same tfjs engine, so TfjsServable's tensor
 * conversions serve it unchanged.
 */
export function loadTfjsNode(): Promise<TfjsNode | undefined> {
  loaded ??= import(TFJS_NODE).then(
    (module: { default?: TfjsNode } & TfjsNode) => module.default ?? module,
    () => undefined,
  );
  return loaded;
}

async function requireTfjsNode(): Promise<TfjsNode> {
  const tfn = await loadTfjsNode();
  if (tfn === undefined) throw new HubError('RUNTIME_UNAVAILABLE', TFJS_NODE_MISSING);
  return tfn;
}

/** The folder holding `saved_model.pb`, as a local directory, and its published path. */
function savedModelDir(files: LocalFile[], modelFile?: string): { localDir: string; publishedDir: string; pbPath: string } {
  const pb = files.filter((file) => path.posix.basename(file.path) === 'saved_model.pb' && (modelFile === undefined || file.path === modelFile || path.posix.dirname(file.path) === modelFile));
  if (pb.length !== 1) {
    throw new HubError('INVALID_MODEL', pb.length === 0 ? 'no saved_model.pb among the files' : 'several saved_model.pb files: set servable.model_file');
  }
  const publishedDir = path.posix.dirname(pb[0]!.path);
  for (const file of files) {
    // tfjs-node reads the folder itself, so the published layout must be the layout on disk.
    const expected = path.join(path.dirname(pb[0]!.localPath), path.posix.relative(publishedDir, file.path));
    if (file.path.startsWith(publishedDir === '.' ? '' : `${publishedDir}/`) && path.resolve(file.localPath) !== path.resolve(expected)) {
      throw new HubError('INTERNAL', `the files of the SavedModel are not laid out as one folder (${file.path})`);
    }
  }
  return { localDir: path.dirname(pb[0]!.localPath), publishedDir, pbPath: pb[0]!.path };
}

async function openSavedModel(files: LocalFile[], modelFile?: string): Promise<{ runner: TfjsRunner; pbPath: string; tags: string[]; signature: string }> {
  const tfn = await requireTfjsNode();
  const { localDir, pbPath } = savedModelDir(files, modelFile);
  let metaGraphs: Awaited<ReturnType<TfjsNode['node']['getMetaGraphsFromSavedModel']>>;
  try {
    metaGraphs = await tfn.node.getMetaGraphsFromSavedModel(localDir);
  } catch (error) {
    throw new HubError('INVALID_MODEL', `saved_model.pb cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const graph = metaGraphs.find((meta) => meta.tags.includes('serve')) ?? metaGraphs[0];
  const signature = graph === undefined ? undefined : 'serving_default' in graph.signatureDefs ? 'serving_default' : Object.keys(graph.signatureDefs)[0];
  if (graph === undefined || signature === undefined) throw new HubError('INVALID_MODEL', 'the SavedModel has no signature to serve');
  let model: TfjsNodeSavedModel;
  try {
    model = await tfn.node.loadSavedModel(localDir, graph.tags, signature);
  } catch (error) {
    throw new HubError('INVALID_MODEL', `the SavedModel cannot be loaded: ${(error as Error).message}`, { cause: error });
  }
  const specs = (infos: NodeTensorInfo[], kind: string): TensorSpec[] => infos.map((info) => ({
    name: info.name,
    shape: (info.shape ?? []).map((dim) => (dim < 0 ? null : dim)),
    dtype: dtypeFromTfjs(info.dtype, `${kind} ${info.name}`),
  }));
  const inputs = specs(model.inputs, 'input');
  const outputs = specs(model.outputs, 'output');
  const runner: TfjsRunner = {
    inputs,
    outputs,
    memoryBytes: files.reduce((total, file) => total + file.size, 0),
    async execute(named) {
      const result = model.predict(named);
      if (Array.isArray(result)) return result;
      if ('dtype' in result) return [result as tf.Tensor];
      return outputs.map((spec) => (result as Record<string, tf.Tensor>)[spec.name]!);
    },
    dispose: () => model.dispose(),
  };
  return { runner, pbPath, tags: graph.tags, signature };
}

export class TfSavedModelRuntime implements ServableRuntime {
  readonly type = 'tf-savedmodel' as const;

  async inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    const { runner, pbPath, tags, signature } = await openSavedModel(files, declared.model_file);
    try {
      const { servable, outputs } = await inspectRunner(
        runner,
        declared,
        { type: 'tf-savedmodel', model_file: pbPath, runtime: { ...declared.runtime, engine: 'tfjs-node', tags, signature } },
        { tags, signature },
      );
      outputs.forEach((tensor) => tensor.dispose());
      return { servable, facts: { engine: 'tfjs-node', tags, signature }, warnings: [] };
    } finally {
      runner.dispose();
    }
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    const { runner } = await openSavedModel(files, document.servable.model_file);
    applyDeclaredDtypes(runner, document.servable.methods.run);
    try {
      (await warmUp(runner)).forEach((tensor) => tensor.dispose());
    } catch (error) {
      runner.dispose();
      throw error;
    }
    return new TfjsServable('tf-savedmodel', runner);
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    return (await loadTfjsNode()) === undefined ? { ok: false, reason: TFJS_NODE_MISSING } : { ok: true };
  }
}
