/**
 * A TensorFlow.js IOHandler over files on this machine. tfjs' own `file://` handler lives in
 * tfjs-node, which cannot install here, and a servable's files are not one folder anyway: they
 * are `LocalFile`s whose published path (`model.json`, `group1-shard1of1.bin`) is not where the
 * bytes sit. Weight paths in the manifest are resolved against the published paths, so a manifest
 * cannot reach a file outside the servable.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import type { LocalFile } from '../schemas/ports/servable.ts';
import { tf } from './tfjs-backend.ts';

type ModelJSON = tf.io.ModelJSON;
type WeightsManifestConfig = tf.io.WeightsManifestConfig;

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
  complex64: 8,
};

/** Read and minimally check a `model.json`. */
export async function readModelJson(file: LocalFile): Promise<ModelJSON> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file.localPath, 'utf8'));
  } catch (error) {
    throw new HubError('INVALID_MODEL', `${file.path} is not valid JSON`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || !('modelTopology' in parsed)) {
    throw new HubError('INVALID_MODEL', `${file.path} has no modelTopology: not a TensorFlow.js model.json`);
  }
  return parsed as ModelJSON;
}

function expectedBytes(manifest: WeightsManifestConfig, shard: number): number | undefined {
  let total = 0;
  for (const spec of manifest[shard]?.weights ?? []) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const perElement = BYTES_PER_ELEMENT[dtype];
    // String weights carry their own lengths: the size cannot be known from the manifest.
    if (perElement === undefined) return undefined;
    total += spec.shape.reduce((a, b) => a * b, 1) * perElement;
  }
  return total;
}

/**
 * The weights of a manifest group may be split over several shards; only the total per group is
 * fixed. A missing shard or a wrong total is reported here rather than as tfjs' RangeError.
 */
async function readWeights(
  manifest: WeightsManifestConfig,
  modelJsonPath: string,
  files: Map<string, LocalFile>,
): Promise<ArrayBuffer[]> {
  const buffers: ArrayBuffer[] = [];
  for (const [index, group] of manifest.entries()) {
    let groupBytes = 0;
    for (const shardPath of group.paths) {
      const published = path.posix.normalize(path.posix.join(path.posix.dirname(modelJsonPath), shardPath));
      const file = files.get(published);
      if (file === undefined) {
        throw new HubError('INVALID_MODEL', `the weight file ${published} named in ${modelJsonPath} is missing`);
      }
      const bytes = await readFile(file.localPath);
      groupBytes += bytes.byteLength;
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
    const expected = expectedBytes(manifest, index);
    if (expected !== undefined && expected !== groupBytes) {
      throw new HubError(
        'INVALID_MODEL',
        `the weights of ${group.paths.join(', ')} are ${groupBytes} bytes but ${modelJsonPath} describes ${expected}`,
      );
    }
  }
  return buffers;
}

/** Load handler for the model whose `model.json` is published at `modelJsonPath` among `files`. */
export function localFilesIOHandler(files: LocalFile[], modelJsonPath: string): tf.io.IOHandler {
  const byPath = new Map(files.map((file) => [path.posix.normalize(file.path), file]));
  const modelFile = byPath.get(path.posix.normalize(modelJsonPath));
  if (modelFile === undefined) throw new HubError('INVALID_MODEL', `${modelJsonPath} is not among the files`);
  return {
    async load() {
      const modelJson = await readModelJson(modelFile);
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => [
        tf.io.getWeightSpecs(manifest),
        await readWeights(manifest, modelFile.path, byPath),
      ]);
    },
  };
}
