/**
 * From a path on disk to a servable description: what `modelhub init` and `modelhub publish`
 * start from. A `modelhub.json` beside the model (or inside its folder) is the description;
 * without one, what the file itself says (an ONNX graph's inputs and outputs) is used.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ServableType } from '../../schemas/metadata.ts';
import { AUTHOR_PLACEHOLDER, MetadataServable } from './metadata-servable.ts';
import { OnnxModel } from './onnx-model.ts';
import type { MetadataDraft, ServableDescription } from './servable-description.ts';

export const METADATA_FILE = 'modelhub.json';

const BY_EXTENSION: Record<string, ServableType> = {
  '.onnx': 'onnx',
  '.h5': 'keras',
  '.keras': 'keras',
  '.pkl': 'sklearn',
  '.pickle': 'sklearn',
  '.joblib': 'sklearn',
  '.pt': 'torch',
  '.pth': 'torch',
  '.py': 'python',
};

/** A TF.js `model.json` by another name: its JSON has a `modelTopology`. */
function isTfjsModelJson(file: string): boolean {
  if (statSync(file).size > 64 * 1024 * 1024) return false;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { modelTopology?: unknown };
    return typeof parsed === 'object' && parsed !== null && 'modelTopology' in parsed;
  } catch {
    return false;
  }
}

/** The servable type a path looks like, and the file the runtime loads; undefined when unknown. */
export function detectServableType(modelPath: string): { type: ServableType; modelFile?: string } | undefined {
  if (statSync(modelPath).isDirectory()) {
    if (existsSync(path.join(modelPath, 'model.json'))) return { type: 'tfjs', modelFile: 'model.json' };
    if (existsSync(path.join(modelPath, 'saved_model.pb'))) return { type: 'tf-savedmodel' };
    if (existsSync(path.join(modelPath, 'Dockerfile'))) return { type: 'container', modelFile: 'Dockerfile' };
    return undefined;
  }
  const base = path.basename(modelPath);
  if (base === 'model.json' || (base.endsWith('.json') && isTfjsModelJson(modelPath))) return { type: 'tfjs', modelFile: base };
  const type = BY_EXTENSION[path.extname(base).toLowerCase()];
  return type ? { type, modelFile: base } : undefined;
}

/** Files of a model folder worth uploading: not the metadata file, nothing hidden. */
const excludeFromFolder = (relative: string) =>
  relative === METADATA_FILE || relative.split('/').some((part) => part.startsWith('.'));

/** The weight shards a TF.js model JSON names, relative to its folder. */
function tfjsWeightPaths(modelJson: string): string[] {
  const parsed = JSON.parse(readFileSync(modelJson, 'utf8')) as { weightsManifest?: { paths?: string[] }[] };
  return (parsed.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
}

function addModelFiles(description: ServableDescription, modelPath: string): void {
  if (statSync(modelPath).isDirectory()) {
    description.addDirectory(modelPath, '', { exclude: excludeFromFolder });
    return;
  }
  description.addFile(modelPath);
  // A TF.js model JSON is useless without the shards beside it.
  if (detectServableType(modelPath)?.type === 'tfjs') {
    for (const shard of tfjsWeightPaths(modelPath)) description.addFile(path.join(path.dirname(modelPath), shard), shard);
  }
}

/**
 * What the model at `modelPath` says about itself, with its files added: the runtime's own class
 * where one reads the file (loaded on demand: TensorFlow.js and Python are slow to start), a
 * description with undeclared types otherwise, for the hub to fill in.
 */
export async function describeModelPath(modelPath: string): Promise<ServableDescription> {
  if (!existsSync(modelPath)) throw new TypeError(`${modelPath}: no such file or folder`);
  const detected = detectServableType(modelPath);
  const isDirectory = statSync(modelPath).isDirectory();
  switch (detected?.type) {
    case 'onnx':
      return OnnxModel.create(modelPath);
    case 'keras':
      return (await import('./keras-model.ts')).KerasModel.create(modelPath);
    case 'sklearn':
      return (await import('./sklearn-model.ts')).SklearnModel.create(modelPath);
    case 'tfjs': {
      const { TfjsModel } = await import('./tfjs-model.ts');
      if (isDirectory) return TfjsModel.create(modelPath);
      // One model JSON in a folder of several models: its declared types, and only its own shards.
      const inspected = await TfjsModel.create(path.dirname(modelPath), { modelFile: path.basename(modelPath) });
      const description = MetadataServable.fromDocument({ servable: inspected.draftMetadata().servable });
      addModelFiles(description, modelPath);
      return description;
    }
    case 'container':
      return (await import('./container-servable.ts')).ContainerServable.create(modelPath);
  }
  const description = MetadataServable.fromDocument({
    servable: {
      type: detected?.type ?? 'python',
      ...(detected?.modelFile ? { model_file: detected.modelFile } : {}),
      methods: { run: { input: { type: 'any' }, output: { type: 'any' } } },
    },
  });
  addModelFiles(description, modelPath);
  return description;
}

/** Where the metadata of `modelPath` is looked for: inside a folder, beside a file. */
export function defaultMetadataPath(modelPath: string): string {
  return statSync(modelPath).isDirectory()
    ? path.join(modelPath, METADATA_FILE)
    : path.join(path.dirname(modelPath), METADATA_FILE);
}

/**
 * The description to publish: `metadataPath` (or the default `modelhub.json`) when it exists,
 * with the model's files; otherwise what the model says about itself.
 */
export async function loadServable(modelPath: string, options: { metadataPath?: string } = {}): Promise<ServableDescription> {
  if (!existsSync(modelPath)) throw new TypeError(`${modelPath}: no such file or folder`);
  const metadataPath = options.metadataPath ?? defaultMetadataPath(modelPath);
  if (!existsSync(metadataPath)) {
    if (options.metadataPath) throw new TypeError(`${metadataPath}: no such metadata file`);
    return describeModelPath(modelPath);
  }
  let document: MetadataDraft;
  try {
    document = JSON.parse(await readFile(metadataPath, 'utf8')) as MetadataDraft;
  } catch (error) {
    throw new TypeError(`${metadataPath} is not JSON: ${(error as Error).message}`);
  }
  const description = MetadataServable.fromDocument(document);
  addModelFiles(description, modelPath);
  // A single file is the model file, whatever name the metadata was written for.
  if (!statSync(modelPath).isDirectory()) description.setModelFile(path.basename(modelPath));
  return description;
}

/**
 * A `modelhub.json` to fill in: what the model says, with placeholders for what only its authors
 * know. `toMetadata()` refuses the document while any placeholder is left.
 */
export async function metadataTemplate(modelPath?: string, options: { owner?: string } = {}): Promise<MetadataDraft> {
  const draft: MetadataDraft = modelPath
    ? (await describeModelPath(modelPath)).draftMetadata()
    : { datacite: {}, hub: {}, servable: { type: 'python', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } } };
  const stem = modelPath ? path.basename(path.resolve(modelPath)).replace(/\.[^.]+$/, '') : 'my-model';
  const name = stem.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'my-model';
  return {
    datacite: {
      titles: [{ title: `TODO: a title for ${stem}` }],
      creators: [{ name: AUTHOR_PLACEHOLDER, nameType: 'Personal', affiliation: ['TODO: institution'] }],
      descriptions: [{ description: 'TODO: what the model does, what it was trained on', descriptionType: 'Abstract' }],
      relatedIdentifiers: [],
      ...draft.datacite,
    },
    hub: { owner: options.owner ?? 'TODO-owner', name, domains: [], visibility: 'public', ...draft.hub },
    servable: draft.servable,
  };
}
