/**
 * The base images the hub builds itself, once, from Debian packages: no registry is reachable, so
 * `modelhub/base:bookworm` is a `debootstrap --variant=minbase` root file system imported into the
 * engine, and `modelhub/python:bookworm` adds Debian's python3 with numpy, scikit-learn and joblib.
 * Each carries a recipe label (a hash of how it is made): an image with the expected label is
 * reused, so only the first start of a machine pays the minutes it takes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { HubError } from '../schemas/errors.ts';
import { LABELS, type ContainerEngine, type ServableImage } from '../schemas/ports/container-engine.ts';

export const BASE_IMAGE = 'modelhub/base:bookworm';
export const PYTHON_IMAGE = 'modelhub/python:bookworm';
export const TORCH_IMAGE = 'modelhub/torch:bookworm';

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

export interface BaseImageOptions {
  /** Each line of progress (debootstrap, the import, the package installs). */
  onLog?: (line: string) => void;
  mirror?: string;
  /** Where debootstrap writes the root file system (a temporary folder otherwise). */
  workDir?: string;
  /** Also build `modelhub/torch:bookworm` (python3-torch is large: about 1 GB). */
  torch?: boolean;
}

export interface BaseImages {
  base: ServableImage;
  python: ServableImage;
  torch?: ServableImage;
}

const PYTHON_PACKAGES = ['python3', 'python3-numpy', 'python3-sklearn', 'python3-joblib'];

const aptInstall = (packages: string[]) =>
  'RUN apt-get update \\\n' +
  ` && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')} \\\n` +
  ' && apt-get clean && rm -rf /var/lib/apt/lists/*\n';

const PYTHON_DOCKERFILE = `FROM ${BASE_IMAGE}\n${aptInstall(PYTHON_PACKAGES)}`;
const TORCH_DOCKERFILE = `FROM ${PYTHON_IMAGE}\n${aptInstall(['python3-torch'])}`;

function recipe(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

const building = new WeakMap<ContainerEngine, Promise<BaseImages>>();

/**
 * Makes sure the base images exist on the engine, building what is missing or out of date.
 * Concurrent callers share one build. The process engine has no images: it answers right away.
 */
export function ensureBaseImages(engine: ContainerEngine, options: BaseImageOptions = {}): Promise<BaseImages> {
  if (engine.kind === 'process') {
    const none: ServableImage = { ref: 'process', id: 'process', labels: {} };
    return Promise.resolve({ base: none, python: none });
  }
  let pending = building.get(engine);
  if (!pending || options.torch) {
    pending = buildBaseImages(engine, options);
    building.set(engine, pending);
    pending.catch(() => building.delete(engine));
  }
  return pending;
}

async function buildBaseImages(engine: ContainerEngine, options: BaseImageOptions): Promise<BaseImages> {
  const log = options.onLog ?? (() => {});
  const mirror = options.mirror ?? process.env.MODELHUB_DEBIAN_MIRROR ?? DEFAULT_DEBIAN_MIRROR;
  const baseRecipe = recipe('debootstrap --variant=minbase bookworm', 'v1');
  const base = await ensure(engine, BASE_IMAGE, baseRecipe, log, () => importDebootstrap(engine, baseRecipe, mirror, options.workDir, log));
  const pythonRecipe = recipe(baseRecipe, PYTHON_DOCKERFILE);
  const python = await ensure(engine, PYTHON_IMAGE, pythonRecipe, log, () => buildFromDockerfile(engine, PYTHON_IMAGE, pythonRecipe, PYTHON_DOCKERFILE, log));
  if (!options.torch) return { base, python };
  const torchRecipe = recipe(pythonRecipe, TORCH_DOCKERFILE);
  const torch = await ensure(engine, TORCH_IMAGE, torchRecipe, log, () => buildFromDockerfile(engine, TORCH_IMAGE, torchRecipe, TORCH_DOCKERFILE, log));
  return { base, python, torch };
}

async function ensure(
  engine: ContainerEngine,
  ref: string,
  expectedRecipe: string,
  log: (line: string) => void,
  make: () => Promise<ServableImage>,
): Promise<ServableImage> {
  const existing = await engine.findImage(ref);
  if (existing && existing.labels[LABELS.recipe] === expectedRecipe) {
    log(`${ref}: cached (${existing.id.slice(7, 19)})`);
    return existing;
  }
  log(`${ref}: ${existing ? 'recipe changed, rebuilding' : 'building'}`);
  const started = Date.now();
  const image = await make();
  log(`${ref}: built in ${Math.round((Date.now() - started) / 1000)} s`);
  return image;
}

const baseLabels = (recipeHash: string) => ({ [LABELS.role]: 'base', [LABELS.recipe]: recipeHash });

async function buildFromDockerfile(engine: ContainerEngine, ref: string, recipeHash: string, dockerfile: string, log: (line: string) => void) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-base-'));
  try {
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return await engine.build({ contextDir: dir, tag: ref, labels: baseLabels(recipeHash), onLog: log });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function importDebootstrap(engine: ContainerEngine, recipeHash: string, mirror: string, workDir: string | undefined, log: (line: string) => void) {
  const dir = await mkdtemp(path.join(workDir ?? os.tmpdir(), 'modelhub-rootfs-'));
  try {
    await run('debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], log);
    const tarProcess = spawn('tar', ['-C', dir, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tarDone = exitOf(tarProcess, 'tar', log);
    const image = await engine.importRootfs({
      rootfs: tarProcess.stdout as Readable,
      tag: BASE_IMAGE,
      labels: baseLabels(recipeHash),
      changes: ['ENV LANG=C.UTF-8', 'CMD ["/bin/bash"]'],
      onLog: log,
    });
    await tarDone;
    return image;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function exitOf(child: ReturnType<typeof spawn>, what: string, log: (line: string) => void): Promise<void> {
  child.stderr?.setEncoding('utf8');
  let tail = '';
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-2000);
    for (const line of text.split('\n')) if (line.trim()) log(`${what}: ${line.trimEnd()}`);
  });
  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new HubError('RUNTIME_UNAVAILABLE', `${what} cannot run: ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new HubError('IMAGE_BUILD_FAILED', `${what} exited with code ${code}: ${tail.trim().split('\n').pop() ?? ''}`));
    });
  });
}

function run(command: string, args: string[], log: (line: string) => void): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) log(`${command}: ${line.trimEnd()}`);
  });
  return exitOf(child, command, log);
}
