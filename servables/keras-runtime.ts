/**
 * Keras servables (type `keras`): Keras 2 HDF5 files (`model.save('x.h5')`) and Keras 3 `.keras`
 * archives, rebuilt as TensorFlow.js LayersModels and served by the tfjs runtime's `TfjsServable`.
 * There is no Python Keras on the hub: h5wasm reads the HDF5, the architecture comes from the
 * saved config through tfjs' own deserializer, and the weights are set layer by layer in the order
 * Keras saved them. A layer tfjs cannot build fails the publish at inspect, named.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import h5wasm, { type Dataset as H5Dataset, type File as H5File, type Group as H5Group } from 'h5wasm/node';
import yauzl from 'yauzl';
import { HubError } from '../schemas/errors.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import { GRU_ACTIVATIONS, ModelhubGRU, ModelhubGRUCell } from './keras-gru.ts';
import type { InspectionResult, LocalFile, Servable, ServableRuntime } from '../schemas/ports/servable.ts';
import { ensureTfjsBackend, tf } from './tfjs-backend.ts';
import { inspectRunner, layersModelRunner, readyServable } from './tfjs-runtime.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** One saved weight array, row-major as HDF5 stores it. */
interface SavedWeight {
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** What a Keras file holds once read: a tfjs-ready config and the weights of each layer. */
export interface KerasContents {
  format: 'keras2-h5' | 'keras3';
  /** `{class_name, config}` in the Keras 2 form that tfjs' deserializer reads. */
  modelConfig: JsonObject;
  /** The config as saved, for naming what tfjs cannot build as Keras named it. */
  rawConfig: JsonObject;
  /** Top-level layer name → its weights, in the order the layer creates them. */
  layerWeights: Map<string, SavedWeight[]>;
  facts: Record<string, unknown>;
  warnings: string[];
}

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

// ---------------------------------------------------------------- HDF5 through h5wasm

let h5ready: Promise<void> | undefined;

function ensureH5(): Promise<void> {
  h5ready ??= h5wasm.ready.then((module) => {
    // Errors become exceptions instead of HDF5's diagnostic dump on stderr.
    module.activate_throwing_error_handler();
  });
  return h5ready;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

async function startsWith(localPath: string, offsets: number[], signature: Buffer): Promise<boolean> {
  const handle = await open(localPath, 'r');
  try {
    for (const offset of offsets) {
      const buffer = Buffer.alloc(signature.length);
      const { bytesRead } = await handle.read(buffer, 0, signature.length, offset);
      if (bytesRead === signature.length && buffer.equals(signature)) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

/** HDF5's own error stack is long; its innermost frame says what went wrong. */
function hdf5Reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const frames = [...text.matchAll(/#\d+: .* in ([\w]+\(\)): ([^\n]+)/g)];
  const last = frames.at(-1);
  return last === undefined ? text.split('\n')[0]! : `${last[1]} ${last[2]}`;
}

async function withH5<T>(localPath: string, shownAs: string, read: (file: H5File) => T): Promise<T> {
  await ensureH5();
  // HDF5 allows a user block before the signature, at a power of two from 512 on.
  if (!(await startsWith(localPath, [0, 512, 1024, 2048, 4096], HDF5_SIGNATURE))) {
    throw new HubError('INVALID_MODEL', `${shownAs} is not an HDF5 file`);
  }
  let file: H5File;
  try {
    file = new h5wasm.File(localPath, 'r');
  } catch (error) {
    throw new HubError('INVALID_MODEL', `${shownAs} cannot be read as HDF5 (truncated or corrupt?): ${hdf5Reason(error)}`, { cause: error });
  }
  try {
    return read(file);
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new HubError('INVALID_MODEL', `${shownAs} cannot be read (truncated or corrupt?): ${hdf5Reason(error)}`, { cause: error });
  } finally {
    file.close();
  }
}

function attribute(entity: H5Group | H5Dataset, name: string): Json | undefined {
  const attr = entity.attrs[name];
  return attr === undefined ? undefined : (attr.json_value as Json);
}

const stringList = (value: Json | undefined): string[] =>
  Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];

function readDataset(file: H5File, datasetPath: string, shownAs: string): SavedWeight {
  const entity = file.get(datasetPath);
  if (!(entity instanceof h5wasm.Dataset)) throw new HubError('INVALID_MODEL', `${shownAs} has no weight ${datasetPath}`);
  const value = entity.value;
  const shape = entity.shape ?? [];
  let data: Float32Array | Int32Array;
  if (value instanceof Float32Array) data = value;
  else if (value instanceof Float64Array || value instanceof Uint16Array) data = Float32Array.from(value);
  else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) data = Int32Array.from(value as ArrayLike<number | bigint>, Number);
  else if (typeof value === 'number') data = Float32Array.of(value);
  else throw new HubError('INVALID_MODEL', `${shownAs}: weight ${datasetPath} is not numeric`);
  if (data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new HubError('INVALID_MODEL', `${shownAs}: weight ${datasetPath} holds ${data.length} values for shape [${shape}]`);
  }
  return { name: datasetPath, shape, data };
}

const parseJson = (text: Json | undefined, what: string): JsonObject => {
  try {
    const parsed = typeof text === 'string' ? (JSON.parse(text) as Json) : text;
    if (isObject(parsed)) return parsed;
  } catch (error) {
    throw new HubError('INVALID_MODEL', `${what} is not valid JSON`, { cause: error });
  }
  throw new HubError('INVALID_MODEL', `${what} is missing or not a JSON object`);
};

// ---------------------------------------------------------------- Keras 2: legacy HDF5

/** Read a file laid out as Keras 2's `legacy_h5_format.save_model_to_hdf5` writes it. */
export async function readKeras2H5(localPath: string, shownAs: string): Promise<KerasContents> {
  return withH5(localPath, shownAs, (file) => {
    if (file.attrs.model_config === undefined) {
      const hint = file.attrs.layer_names !== undefined ? ': a weights-only file (save_weights) has no architecture to rebuild' : '';
      throw new HubError('INVALID_MODEL', `${shownAs} has no model_config attribute${hint}`);
    }
    const modelConfig = parseJson(attribute(file, 'model_config'), `${shownAs} model_config`);
    const weightsGroup = file.get('model_weights');
    if (!(weightsGroup instanceof h5wasm.Group)) throw new HubError('INVALID_MODEL', `${shownAs} has no model_weights group`);
    const layerWeights = new Map<string, SavedWeight[]>();
    for (const layerName of stringList(attribute(weightsGroup, 'layer_names'))) {
      const layerGroup = weightsGroup.get(layerName);
      if (!(layerGroup instanceof h5wasm.Group)) throw new HubError('INVALID_MODEL', `${shownAs} has no weights group for layer ${layerName}`);
      const names = stringList(attribute(layerGroup, 'weight_names'));
      layerWeights.set(layerName, names.map((name) => readDataset(file, `model_weights/${layerName}/${name}`, shownAs)));
    }
    return {
      format: 'keras2-h5' as const,
      modelConfig: convertConfig(modelConfig).config,
      rawConfig: modelConfig,
      layerWeights,
      facts: {
        keras_version: attribute(file, 'keras_version'),
        backend: attribute(file, 'backend'),
      },
      warnings: [],
    };
  });
}

// ---------------------------------------------------------------- Keras 3: .keras zip

function openZip(localPath: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(localPath, { lazyEntries: true, autoClose: false }, (error, zip) => (error ? reject(error) : resolve(zip)));
  });
}

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/**
 * The three members Keras 3 writes. Only these names are read and the weights go to a temporary
 * file of our own naming, so an archive's paths never decide where anything is written.
 */
async function extractKerasArchive(localPath: string, shownAs: string, weightsPath: string): Promise<{ config: string; metadata?: string; hasWeights: boolean; names: string[] }> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(localPath);
  } catch (error) {
    throw new HubError('INVALID_MODEL', `${shownAs} is not a readable .keras zip archive: ${(error as Error).message}`, { cause: error });
  }
  const texts = new Map<string, string>();
  const names: string[] = [];
  let hasWeights = false;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        const wanted = entry.fileName === 'config.json' || entry.fileName === 'metadata.json' || entry.fileName === 'model.weights.h5';
        if (!wanted) {
          zip.readEntry();
          return;
        }
        if (entry.fileName !== 'model.weights.h5' && entry.uncompressedSize > MAX_JSON_BYTES) {
          reject(new HubError('INVALID_MODEL', `${shownAs}: ${entry.fileName} is larger than ${MAX_JSON_BYTES} bytes`));
          return;
        }
        zip.openReadStream(entry, (error, stream) => {
          if (error) {
            reject(error);
            return;
          }
          if (entry.fileName === 'model.weights.h5') {
            hasWeights = true;
            pipeline(stream, createWriteStream(weightsPath)).then(() => zip.readEntry(), reject);
            return;
          }
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('end', () => {
            texts.set(entry.fileName, Buffer.concat(chunks).toString('utf8'));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new HubError('INVALID_MODEL', `${shownAs} is a damaged zip archive: ${(error as Error).message}`, { cause: error });
  } finally {
    zip.close();
  }
  const config = texts.get('config.json');
  if (config === undefined) throw new HubError('INVALID_MODEL', `${shownAs} has no config.json: not a Keras 3 .keras archive`);
  return { config, metadata: texts.get('metadata.json'), hasWeights, names };
}

/** Keras' `naming.to_snake_case`: how Keras 3 names a layer's group in `model.weights.h5`. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

const isModelClass = (className: string | undefined) => className === 'Sequential' || className === 'Functional' || className === 'Model';

/**
 * Keras 3 `saving_lib` saves each layer's own variables under `<path>/vars/0..n`, then its
 * children: a model's layers under `layers/<snake_case class name>` (numbered `_1`, `_2` when
 * repeated), other child objects in attribute-name order with private ones last.
 */
function collectKeras3Weights(file: H5File, groupPath: string, layer: JsonObject | undefined, shownAs: string): SavedWeight[] {
  const group = file.get(groupPath);
  if (!(group instanceof h5wasm.Group)) return [];
  const weights: SavedWeight[] = [];
  const vars = group.get('vars');
  if (vars instanceof h5wasm.Group) {
    const keys = vars.keys().sort((a, b) => Number(a) - Number(b));
    for (const key of keys) weights.push(readDataset(file, `${groupPath}/vars/${key}`, shownAs));
  }
  const className = typeof layer?.class_name === 'string' ? layer.class_name : undefined;
  const inner = isObject(layer?.config) ? layer.config : undefined;
  if (isModelClass(className) && Array.isArray(inner?.layers)) {
    for (const [child, childPath] of keras3LayerPaths(inner.layers, `${groupPath}/layers`)) {
      weights.push(...collectKeras3Weights(file, childPath, child, shownAs));
    }
    return weights;
  }
  const nameKey = (name: string) => (name.startsWith('_') ? `~${name}` : name);
  const children = group.keys().filter((key) => key !== 'vars').sort((a, b) => (nameKey(a) < nameKey(b) ? -1 : 1));
  // Keras 3 saves backward_layer before forward_layer (alphabetical); tfjs' Bidirectional takes
  // the forward weights first, and both halves have the same shapes, so a mix-up would not show.
  if (className === 'Bidirectional') children.sort((a, b) => Number(a === 'backward_layer') - Number(b === 'backward_layer'));
  for (const child of children) weights.push(...collectKeras3Weights(file, `${groupPath}/${child}`, undefined, shownAs));
  return weights;
}

function keras3LayerPaths(layers: Json[], containerPath: string): [JsonObject, string][] {
  const used = new Map<string, number>();
  const paths: [JsonObject, string][] = [];
  for (const layer of layers) {
    if (!isObject(layer) || typeof layer.class_name !== 'string') continue;
    const base = toSnakeCase(layer.class_name);
    const seen = used.get(base);
    used.set(base, seen === undefined ? 0 : seen + 1);
    paths.push([layer, seen === undefined ? `${containerPath}/${base}` : `${containerPath}/${base}_${seen + 1}`]);
  }
  return paths;
}

const layerName = (layer: JsonObject): string | undefined => {
  const config = isObject(layer.config) ? layer.config : undefined;
  return typeof config?.name === 'string' ? config.name : typeof layer.name === 'string' ? layer.name : undefined;
};

/** Read a Keras 3 `.keras` archive as `saving_lib.save_model` writes it. */
export async function readKeras3(localPath: string, shownAs: string): Promise<KerasContents> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'modelhub-keras-'));
  try {
    const weightsPath = path.join(scratch, `${randomUUID()}.h5`);
    const archive = await extractKerasArchive(localPath, shownAs, weightsPath);
    const raw = parseJson(archive.config, `${shownAs} config.json`);
    const metadata = archive.metadata === undefined ? {} : parseJson(archive.metadata, `${shownAs} metadata.json`);
    if (!archive.hasWeights) {
      const npz = archive.names.includes('model.weights.npz') ? ' (weights saved as npz are not supported; save with the default h5 format)' : '';
      throw new HubError('INVALID_MODEL', `${shownAs} has no model.weights.h5${npz}`);
    }
    const { config, warnings } = convertConfig(raw);
    const inner = isObject(raw.config) ? raw.config : {};
    const layers = Array.isArray(inner.layers) ? inner.layers : [];
    const layerWeights = await withH5(weightsPath, `${shownAs} model.weights.h5`, (file) => {
      // Archives from tf.keras 2.13-2.15 name the container `_layer_checkpoint_dependencies`.
      const container = file.get('layers') instanceof h5wasm.Group || !(file.get('_layer_checkpoint_dependencies') instanceof h5wasm.Group)
        ? 'layers'
        : '_layer_checkpoint_dependencies';
      const byLayer = new Map<string, SavedWeight[]>();
      for (const [layer, groupPath] of keras3LayerPaths(layers, container)) {
        const name = layerName(layer);
        const weights = collectKeras3Weights(file, groupPath, layer, shownAs);
        if (name !== undefined && weights.length > 0) byLayer.set(name, weights);
      }
      return byLayer;
    });
    return {
      format: 'keras3',
      modelConfig: config,
      rawConfig: raw,
      layerWeights,
      facts: { keras_version: metadata.keras_version, date_saved: metadata.date_saved },
      warnings,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- Keras 3 config → tfjs

const DROPPED_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);

/** Node index shifts for the layers of one Keras 3 functional config, by layer name. */
interface NodeShift {
  /** In `inbound_nodes` Keras 3 counts a layer's calls from 0. */
  calls: Map<string, number>;
  /** In `input_layers`/`output_layers` it already counts a nested Functional's own node. */
  ends: Map<string, number>;
}

const NO_SHIFT: NodeShift = { calls: new Map(), ends: new Map() };

/**
 * tfjs, like Keras 2, gives a nested model whose input shape is known a node 0 of its own that
 * links its inputs to its outputs, so its first call is node 1. A Keras 3 Functional has no such
 * node; a Keras 3 Sequential never has one. A Sequential without a known input shape gets none
 * in tfjs either.
 */
function ownsFirstNode(layer: JsonObject): boolean {
  if (layer.class_name === 'Functional' || layer.class_name === 'Model') return true;
  if (layer.class_name !== 'Sequential') return false;
  const config = isObject(layer.config) ? layer.config : {};
  const first = Array.isArray(config.layers) ? config.layers[0] : undefined;
  const firstConfig = isObject(first) && isObject(first.config) ? first.config : {};
  return (Array.isArray(config.build_input_shape) && isObject(first))
    || (isObject(first) && first.class_name === 'InputLayer')
    || firstConfig.batch_shape != null || firstConfig.batch_input_shape != null;
}

const isKeras3Node = (node: Json) => isObject(node) && 'args' in node;

function nodeShift(functional: JsonObject): NodeShift {
  const layers = Array.isArray(functional.layers) ? functional.layers.filter(isObject) : [];
  // Archives from tf.keras 2.13-2.15 keep Keras 2's node lists and numbering.
  if (!layers.some((layer) => Array.isArray(layer.inbound_nodes) && layer.inbound_nodes.some(isKeras3Node))) return NO_SHIFT;
  const shift: NodeShift = { calls: new Map(), ends: new Map() };
  for (const layer of layers) {
    const name = layerName(layer);
    if (name === undefined || !ownsFirstNode(layer)) continue;
    shift.calls.set(name, 1);
    if (layer.class_name === 'Sequential') shift.ends.set(name, 1);
  }
  return shift;
}

/** Keras 3 records a call's tensors as `{args, kwargs}`; tfjs reads Keras 2's `[[name, node, index, kwargs]]`. */
function convertInboundNodes(nodes: Json[], shift: NodeShift): Json[] {
  return nodes.map((node) => {
    if (!isObject(node)) return node;
    const history: Json[] = [];
    const visit = (value: Json | undefined) => {
      if (Array.isArray(value)) value.forEach(visit);
      else if (isObject(value) && value.class_name === '__keras_tensor__' && isObject(value.config) && Array.isArray(value.config.keras_history)) {
        const [name, nodeIndex, tensorIndex] = value.config.keras_history;
        const offset = typeof name === 'string' ? (shift.calls.get(name) ?? 0) : 0;
        history.push([name ?? null, Number(nodeIndex ?? 0) + offset, tensorIndex ?? 0, {}]);
      } else if (isObject(value)) Object.values(value).forEach(visit);
    };
    visit(node.args);
    return history;
  });
}

const isTensorRef = (value: Json | undefined): value is [string, number, number] =>
  Array.isArray(value) && value.length === 3 && typeof value[0] === 'string';

function shiftTensorRefs(refs: Json[], shift: NodeShift): Json[] {
  return refs.map((ref) => (isTensorRef(ref) ? [ref[0], Number(ref[1]) + (shift.ends.get(ref[0]) ?? 0), ref[2]] : ref));
}

const isResetAfterGru = (layer: JsonObject): boolean =>
  (layer.class_name === 'GRU' || layer.class_name === 'GRUCell') && isObject(layer.config) && layer.config.reset_after === true;

function convertConfig(root: JsonObject): { config: JsonObject; warnings: string[] } {
  const warnings: string[] = [];
  const convert = (value: Json, key = '', shift = NO_SHIFT): Json => {
    if (Array.isArray(value)) {
      if (key === 'input_layers' || key === 'output_layers') return shiftTensorRefs(isTensorRef(value) ? [value] : value, shift);
      return value.map((item) => convert(item, '', shift));
    }
    if (!isObject(value)) return value;
    const className = value.class_name;
    if (className === 'DTypePolicy' || className === 'FloatDTypePolicy' || className === 'Policy') {
      const name = isObject(value.config) && typeof value.config.name === 'string' ? value.config.name : 'float32';
      if (name.startsWith('mixed_')) {
        warnings.push(`the ${name} dtype policy is computed in float32 by TensorFlow.js`);
        return 'float32';
      }
      return name;
    }
    // A functional config numbers its own layers' nodes; shifts never reach into nested models.
    const inner = Array.isArray(value.layers) && 'input_layers' in value ? nodeShift(value) : className === undefined ? shift : NO_SHIFT;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (DROPPED_KEYS.has(k)) continue;
      // Weights are overwritten and training is not served: initializers, regularizers and
      // constraints only need to be something tfjs can build.
      if (k.endsWith('_initializer') && v !== null) out[k] = { class_name: 'Zeros', config: {} };
      else if (k.endsWith('_regularizer') || k.endsWith('_constraint')) out[k] = null;
      else if (k === 'inbound_nodes' && Array.isArray(v) && v.some(isKeras3Node)) out[k] = convertInboundNodes(v, shift);
      else if (k === 'batch_shape' && className === undefined) out.batch_input_shape = convert(v, k);
      else out[k] = convert(v, k, inner);
    }
    if (className === 'Sequential') addBuildInputShape(value, out);
    // tfjs' GRU only computes reset_after=False; ours computes the Keras default.
    if (isResetAfterGru(value)) out.class_name = className === 'GRU' ? ModelhubGRU.className : ModelhubGRUCell.className;
    return out;
  };
  const config = convert(root) as JsonObject;
  return { config: { class_name: config.class_name ?? null, config: config.config ?? null }, warnings };
}

/** A Keras 3 Sequential built without an Input layer records its input shape only in its own config. */
function addBuildInputShape(raw: JsonObject, converted: JsonObject): void {
  const rawConfig = isObject(raw.config) ? raw.config : undefined;
  const inner = isObject(converted.config) ? converted.config : undefined;
  const first = Array.isArray(inner?.layers) ? inner.layers[0] : undefined;
  if (Array.isArray(rawConfig?.build_input_shape) && isObject(first) && first.class_name !== 'InputLayer' && isObject(first.config) && first.config.batch_input_shape === undefined) {
    first.config.batch_input_shape = rawConfig.build_input_shape;
  }
}

// ---------------------------------------------------------------- rebuilding in tfjs

/**
 * Layer classes in a saved config that tfjs cannot build (or would build computing something
 * else), with the name Keras gave each.
 */
export function unsupportedLayers(rawConfig: JsonObject, format: KerasContents['format'] = 'keras2-h5'): string[] {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const missing = new Set<string>();
  const visit = (layer: Json | undefined) => {
    if (!isObject(layer) || typeof layer.class_name !== 'string') return;
    if (!(layer.class_name in known)) {
      const registered = typeof layer.registered_name === 'string' && layer.registered_name !== layer.class_name ? ` (${layer.registered_name})` : '';
      const lambda = layer.class_name === 'Lambda' ? ' (Python code that only Keras can run)' : '';
      missing.add(`${layer.class_name}${registered}${lambda} in layer ${layerName(layer) ?? '?'}`);
    }
    const config = isObject(layer.config) ? layer.config : undefined;
    // tfjs' ReLU reads max_value only; a leaky or thresholded ReLU would compute something else.
    if (layer.class_name === 'ReLU' && (Number(config?.negative_slope ?? 0) !== 0 || Number(config?.threshold ?? 0) !== 0)) {
      missing.add(`ReLU with negative_slope or threshold in layer ${layerName(layer) ?? '?'}`);
    }
    // Keras 3's hard_sigmoid is relu6(x + 3) / 6; tfjs computes Keras 2's clip(0.2x + 0.5, 0, 1).
    // (A reset_after GRU refuses it below, with the activations it does take.)
    if (format === 'keras3' && !isResetAfterGru(layer)) {
      for (const key of ['activation', 'recurrent_activation']) {
        if (config?.[key] === 'hard_sigmoid') {
          missing.add(`${layer.class_name} with ${key} hard_sigmoid (Keras 3's differs from the Keras 2 one TensorFlow.js computes) in layer ${layerName(layer) ?? '?'}`);
        }
      }
    }
    if (isResetAfterGru(layer)) {
      for (const key of ['activation', 'recurrent_activation']) {
        const value = config?.[key];
        if (value === undefined || value === null || (typeof value === 'string' && GRU_ACTIVATIONS.has(value))) continue;
        const shown = typeof value === 'string' ? value : JSON.stringify(value);
        missing.add(`${layer.class_name} with reset_after=True and ${key} ${shown} (supported: ${[...GRU_ACTIVATIONS].join(', ')}) in layer ${layerName(layer) ?? '?'}`);
      }
    }
    if (layer.class_name === 'Bidirectional' && !isDefaultBackwardLayer(config)) {
      missing.add(`Bidirectional with its own backward_layer (TensorFlow.js mirrors the forward layer) in layer ${layerName(layer) ?? '?'}`);
    }
    if (Array.isArray(config?.layers)) config.layers.forEach(visit);
    if (isObject(config?.layer)) visit(config.layer);
    if (isObject(config?.cell)) visit(config.cell);
  };
  visit(rawConfig);
  return [...missing];
}

/**
 * tfjs builds a Bidirectional's backward layer from the forward config with go_backwards flipped.
 * Keras 3 always saves the backward layer, Keras 2 only a user-supplied one: either is fine when
 * it is that same mirror (both come from the same serializer, so key order matches).
 */
function isDefaultBackwardLayer(config: JsonObject | undefined): boolean {
  const backward = config?.backward_layer;
  if (backward === undefined || backward === null) return true;
  const forward = config?.layer;
  if (!isObject(backward) || !isObject(forward) || backward.class_name !== forward.class_name) return false;
  const comparable = (layer: JsonObject) => {
    const inner = isObject(layer.config) ? { ...layer.config } : {};
    delete inner.name;
    delete inner.go_backwards;
    return JSON.stringify(inner);
  };
  const goesBackwards = (layer: JsonObject) => isObject(layer.config) && layer.config.go_backwards === true;
  return comparable(backward) === comparable(forward) && goesBackwards(backward) !== goesBackwards(forward);
}

async function rebuild(contents: KerasContents, shownAs: string): Promise<tf.LayersModel> {
  await ensureTfjsBackend();
  const missing = unsupportedLayers(contents.rawConfig, contents.format);
  if (missing.length > 0) {
    throw new HubError('INVALID_MODEL', `${shownAs} uses layers or custom objects that TensorFlow.js cannot build: ${missing.join('; ')}`, { details: { unsupported: missing } });
  }
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: contents.modelConfig } as never);
  } catch (error) {
    throw new HubError('INVALID_MODEL', `TensorFlow.js cannot rebuild ${shownAs}: ${(error as Error).message}`, { cause: error });
  }
  try {
    setWeights(model, contents.layerWeights, shownAs);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

function setWeights(model: tf.LayersModel, layerWeights: Map<string, SavedWeight[]>, shownAs: string): void {
  for (const layer of model.layers) {
    if (layer.weights.length > 0 && !layerWeights.has(layer.name)) {
      throw new HubError('INVALID_MODEL', `${shownAs} has no saved weights for layer ${layer.name}`);
    }
  }
  for (const [name, saved] of layerWeights) {
    let layer: tf.layers.Layer;
    try {
      layer = model.getLayer(name);
    } catch {
      throw new HubError('INVALID_MODEL', `${shownAs} has weights for a layer ${name} that its config does not define`);
    }
    const expected = layer.weights;
    if (expected.length !== saved.length) {
      throw new HubError('INVALID_MODEL', `layer ${name} of ${shownAs} has ${saved.length} saved weights, but a ${layer.getClassName()} layer has ${expected.length}`);
    }
    saved.forEach((weight, i) => {
      const shape = expected[i]!.shape;
      if (shape.length !== weight.shape.length || shape.some((dim, axis) => dim !== weight.shape[axis])) {
        throw new HubError('INVALID_MODEL', `layer ${name} of ${shownAs}: weight ${weight.name} has shape [${weight.shape}], the layer needs [${shape}]`);
      }
    });
    const tensors = saved.map((weight, i) => tf.tensor(weight.data, weight.shape, expected[i]!.dtype === 'int32' ? 'int32' : 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
}

// ---------------------------------------------------------------- the runtime

const KERAS_EXTENSIONS = ['.h5', '.hdf5', '.keras'];

export function pickKerasFile(files: LocalFile[], modelFile?: string): LocalFile {
  if (modelFile !== undefined) {
    const found = files.find((file) => path.posix.normalize(file.path) === path.posix.normalize(modelFile));
    if (found === undefined) throw new HubError('INVALID_METADATA', `model_file ${modelFile} is not among the uploaded files`);
    return found;
  }
  const candidates = files.filter((file) => KERAS_EXTENSIONS.includes(path.posix.extname(file.path).toLowerCase()));
  if (candidates.length === 1) return candidates[0]!;
  throw new HubError(
    'INVALID_MODEL',
    candidates.length === 0 ? 'no .h5 or .keras file among the files' : `several Keras files (${candidates.map((f) => f.path).join(', ')}): set servable.model_file`,
  );
}

const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** Read a Keras file of either format, deciding by its bytes rather than its name. */
export async function readKerasFile(file: LocalFile): Promise<KerasContents> {
  if (await startsWith(file.localPath, [0], ZIP_SIGNATURE)) return readKeras3(file.localPath, file.path);
  return readKeras2H5(file.localPath, file.path);
}

async function openKeras(file: LocalFile): Promise<{ model: tf.LayersModel; contents: KerasContents }> {
  const contents = await readKerasFile(file);
  return { model: await rebuild(contents, file.path), contents };
}

export class KerasRuntime implements ServableRuntime {
  readonly type = 'keras' as const;

  async inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    const file = pickKerasFile(files, declared.model_file);
    const { model, contents } = await openKeras(file);
    const runner = layersModelRunner(model);
    try {
      const { servable, outputs } = await inspectRunner(
        runner,
        declared,
        { type: 'keras', model_file: file.path, runtime: { ...declared.runtime, engine: 'tfjs', format: contents.format } },
        { format: contents.format },
      );
      tf.dispose(outputs);
      return {
        servable,
        facts: {
          ...contents.facts,
          engine: 'tfjs',
          backend: tf.getBackend(),
          format: contents.format,
          model_class: contents.modelConfig.class_name,
          layers: model.layers.map((layer) => ({ name: layer.name, class_name: layer.getClassName() })),
          parameters: model.countParams(),
        },
        warnings: contents.warnings,
      };
    } finally {
      runner.dispose();
    }
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    const file = pickKerasFile(files, document.servable.model_file);
    const { model } = await openKeras(file);
    return readyServable('keras', layersModelRunner(model), document);
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await Promise.all([ensureTfjsBackend(), ensureH5()]);
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: `TensorFlow.js or h5wasm did not start: ${(error as Error).message}` };
    }
  }
}
