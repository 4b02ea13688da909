/**
 * Containerizes a servable version. For python, sklearn and torch servables it writes a build
 * context — a Dockerfile FROM one of the hub's base images, the model files, the servable runner
 * (`servables/container/runner.py`) and the Python worker it imports — and builds it; a generic
 * container servable brings its own Dockerfile. Build output streams to `onLog` (the publish task's
 * log) and an `errorDetail` fails the build with that line (IMAGE_BUILD_FAILED).
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubError } from '../schemas/errors.ts';
import { LABELS, type ContainerEngine, type ImageLabels, type ServableImage } from '../schemas/ports/container-engine.ts';
import type { PublishedMetadata } from '../schemas/metadata.ts';
import type { WorkerSpec } from './python-worker-pool.ts';
import type { LocalFile } from '../schemas/ports/servable.ts';
import { ensureBaseImages, PYTHON_IMAGE, TORCH_IMAGE, type BaseImageOptions } from './base-images.ts';
import { ENVIRONMENT_PYTHON, ensureEnvironmentImage, type PipSources } from './environment-image.ts';

export const RUNNER_SCRIPT = fileURLToPath(new URL('./container/runner.py', import.meta.url));
export const WORKER_SCRIPT = fileURLToPath(new URL('./python/worker.py', import.meta.url));

/** What the process engine runs for a runner-based context (`{python}` is the configured interpreter). */
export const PROCESS_MANIFEST = 'modelhub-process.json';

export interface ServableBuildInput {
  document: PublishedMetadata;
  files: LocalFile[];
  /** The hub instance that owns the image (label `modelhub.instance`). */
  instance: string;
  /** The Python worker's spec; derived from the document when absent. */
  workerSpec?: Omit<WorkerSpec, 'files_dir'>;
  /** The image of the servable's declared environment, to build on instead of the base image. */
  environmentImage?: ServableImage;
}

export interface ServableBuildOptions {
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** Parent folder of the temporary build context. */
  workDir?: string;
  /** Passed to `ensureBaseImages` the first time. */
  baseImages?: BaseImageOptions;
  /** Where the pip of a declared environment's image finds packages. */
  pip?: PipSources;
}

const RUNNER_TYPES = new Set(['python', 'sklearn', 'torch']);

/** `modelhub/<instance>/<owner>/<name>:<version>`; instance sanitized to a Docker path component. */
export function servableImageTag(instance: string, owner: string, name: string, version: number): string {
  const safeInstance = instance.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'hub';
  return `modelhub/${safeInstance}/${owner}/${name}:${version}`;
}

export function servableLabels(document: PublishedMetadata, instance: string): ImageLabels {
  return {
    [LABELS.owner]: document.hub.owner,
    [LABELS.name]: document.hub.name,
    [LABELS.version]: String(document.hub.version),
    [LABELS.instance]: instance,
    [LABELS.role]: 'servable',
  };
}

/** The worker.py spec the runner loads, from the servable block (files under `model/`). */
export function defaultWorkerSpec(document: PublishedMetadata): Omit<WorkerSpec, 'files_dir'> {
  const servable = document.servable;
  const kind = servable.type;
  if (kind !== 'python' && kind !== 'sklearn' && kind !== 'torch') {
    throw new HubError('RUNTIME_UNAVAILABLE', `servables of type ${kind} are not built into runner images`);
  }
  const details = servable.methods.run.method_details as { method_name?: string } | undefined;
  const input = servable.methods.run.input;
  const methods = Object.fromEntries(
    Object.entries(servable.methods)
      .filter(([name]) => name !== 'run')
      .map(([name, method]) => [name, ((method.method_details as { method_name?: string } | undefined)?.method_name ?? name)]),
  );
  return {
    kind,
    module: servable.python?.module,
    function: servable.python?.function,
    class_name: servable.python?.class_name,
    init_args: servable.python?.init_args,
    method: details?.method_name,
    model_file: servable.model_file,
    methods: Object.keys(methods).length > 0 ? methods : undefined,
    unpack_inputs: servable.options?.unpack_inputs,
    autobatch: servable.options?.autobatch,
    input_shape: input.type === 'ndarray' ? input.shape : undefined,
  };
}

async function copyFiles(files: LocalFile[], into: string): Promise<void> {
  for (const file of files) {
    const target = path.resolve(into, file.path);
    if (!target.startsWith(path.resolve(into) + path.sep)) {
      throw new HubError('INVALID_ARCHIVE', `the file path ${file.path} leaves the servable's folder`);
    }
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(file.localPath, target);
    // Blobs may be private to the hub's user; the servable runs as an unprivileged user.
    await chmod(target, 0o644);
  }
}

/** Writes the build context for a servable version into `dir` (which must exist and be empty). */
export async function writeBuildContext(dir: string, input: ServableBuildInput): Promise<{ kind: 'runner' | 'generic' }> {
  const { document, files } = input;
  if (document.servable.type === 'container') {
    if (!files.some((file) => file.path === 'Dockerfile')) {
      throw new HubError('INVALID_MODEL', 'a container servable needs a Dockerfile at the top of its folder');
    }
    await copyFiles(files, dir);
    return { kind: 'generic' };
  }
  if (!RUNNER_TYPES.has(document.servable.type)) {
    throw new HubError('RUNTIME_UNAVAILABLE', `servables of type ${document.servable.type} are not built into images (only python, sklearn, torch and container)`);
  }
  await copyFiles(files, path.join(dir, 'model'));
  await copyFile(RUNNER_SCRIPT, path.join(dir, 'runner.py'));
  await copyFile(WORKER_SCRIPT, path.join(dir, 'worker.py'));
  const spec = {
    name: `${document.hub.owner}.${document.hub.name}`,
    version: document.hub.version,
    type: document.servable.type,
    worker: { ...(input.workerSpec ?? defaultWorkerSpec(document)), files_dir: 'model' },
  };
  await writeFile(path.join(dir, 'spec.json'), JSON.stringify(spec, null, 2));
  await writeFile(path.join(dir, PROCESS_MANIFEST), JSON.stringify({ command: ['{python}', 'runner.py'] }));
  const from = input.environmentImage?.ref ?? (document.servable.type === 'torch' ? TORCH_IMAGE : PYTHON_IMAGE);
  // A declared environment's venv (servables/environment-image.ts) runs the servable.
  const python = input.environmentImage ? ENVIRONMENT_PYTHON : 'python3';
  await writeFile(
    path.join(dir, 'Dockerfile'),
    [
      `FROM ${from}`,
      'COPY runner.py worker.py spec.json /srv/modelhub/',
      'COPY model/ /srv/modelhub/model/',
      'WORKDIR /srv/modelhub',
      'USER 10001:10001',
      'EXPOSE 8080',
      `CMD ["${python}", "/srv/modelhub/runner.py"]`,
      '',
    ].join('\n'),
  );
  return { kind: 'runner' };
}

/**
 * Builds (or, when the engine already has it, reuses) the image of a servable version. Images are
 * immutable like versions: the same owner/name/version under the same instance is built once.
 */
export async function buildServableImage(
  engine: ContainerEngine,
  input: ServableBuildInput,
  options: ServableBuildOptions = {},
): Promise<ServableImage> {
  const { owner, name, version } = input.document.hub;
  const tag = servableImageTag(input.instance, owner, name, version);
  const log = options.onLog ?? (() => {});
  const existing = await engine.findImage(tag);
  if (existing) {
    log(`image ${tag} exists; reusing it`);
    return existing;
  }
  const contextDir = await mkdtemp(path.join(options.workDir ?? os.tmpdir(), 'modelhub-build-'));
  try {
    let environmentImage: ServableImage | undefined;
    if (engine.kind !== 'process') {
      const needsTorch = input.document.servable.type === 'torch';
      const bases = await ensureBaseImages(engine, { ...options.baseImages, torch: needsTorch || options.baseImages?.torch, onLog: options.baseImages?.onLog ?? log });
      if (RUNNER_TYPES.has(input.document.servable.type)) {
        const base = needsTorch && bases.torch ? bases.torch : bases.python;
        environmentImage = await ensureEnvironmentImage(engine, input.document.servable.environment, base, { pip: options.pip, instance: input.instance, onLog: log, workDir: options.workDir });
      }
    }
    const { kind } = await writeBuildContext(contextDir, { ...input, ...(environmentImage ? { environmentImage } : {}) });
    log(`building ${kind === 'generic' ? 'the servable\'s own Dockerfile' : `a ${input.document.servable.type} runner image`} as ${tag}`);
    return await engine.build({ contextDir, tag, labels: servableLabels(input.document, input.instance), onLog: log, signal: options.signal });
  } finally {
    await rm(contextDir, { recursive: true, force: true });
  }
}
