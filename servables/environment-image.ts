/**
 * Declared environments in container mode (`MODELHUB_CONTAINERS=docker`): an image layer on the
 * hub's Python base image with the environment's Debian packages (`apt-get install`) and its Python
 * requirements in a venv at /opt/modelhub-env (`--system-site-packages`, so Debian's numpy and
 * scikit-learn stay visible). It is tagged `modelhub/env:<hash>` and built once per distinct
 * environment: servable images of every servable that declares the same start FROM it.
 *
 * Package sources are the hub's: MODELHUB_PIP_INDEX_URL, and MODELHUB_PIP_FIND_LINKS, whose local
 * folders are copied into the build context (the build cannot see the host's disk); with
 * find-links alone pip is told `--no-index`. Debian packages come from the base image's apt sources
 * (MODELHUB_DEBIAN_MIRROR when the base image was made). Every name was checked against PEP 508 or
 * Debian's package-name syntax (servables/environments.ts), and `--` ends the options of both tools.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LABELS, type ContainerEngine, type ServableImage } from '../schemas/ports/container-engine.ts';
import type { ServableEnvironment } from '../schemas/metadata.ts';
import { normalizeEnvironment } from './environments.ts';

/** Where the environment's venv lives inside the image; the runner starts with its interpreter. */
export const ENVIRONMENT_VENV = '/opt/modelhub-env';
export const ENVIRONMENT_PYTHON = `${ENVIRONMENT_VENV}/bin/python`;

export interface PipSources {
  indexUrl?: string;
  findLinks?: string[];
}

const WHEEL_FILE = /\.(whl|tar\.gz|zip)$/;

const building = new Map<string, Promise<ServableImage>>();

const isLocal = (link: string) => link.startsWith('/') || link.startsWith('file:');
const localFolder = (link: string) => (link.startsWith('file:') ? new URL(link).pathname : link);

/** The Dockerfile of an environment layer on `from`; wheelhouses copied to /tmp/wheelhouse/<i>. */
export function environmentDockerfile(from: string, environment: ServableEnvironment, pip: PipSources): string {
  const debian = environment.debian ?? [];
  const python = environment.python ?? [];
  const lines = [`FROM ${from}`, 'USER root'];
  const packages = [...(python.length > 0 ? ['python3-pip'] : []), ...debian];
  if (packages.length > 0) {
    lines.push(
      'RUN apt-get update \\',
      ` && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -- ${packages.join(' ')} \\`,
      ' && apt-get clean && rm -rf /var/lib/apt/lists/*',
    );
  }
  if (python.length > 0) {
    const links = pip.findLinks ?? [];
    const sources: string[] = [];
    if (pip.indexUrl) sources.push('--index-url', pip.indexUrl);
    else if (links.length > 0) sources.push('--no-index');
    links.forEach((link, i) => sources.push('--find-links', isLocal(link) ? `/tmp/wheelhouse/${i}` : link));
    if (links.some(isLocal)) lines.push('COPY wheelhouse/ /tmp/wheelhouse/');
    // Exec form (a JSON array): no shell ever reads a requirement, quotes and markers included.
    const exec = (argv: string[]) => `RUN ${JSON.stringify(argv)}`;
    lines.push(
      'ENV PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1',
      exec(['python3', '-m', 'venv', '--system-site-packages', '--without-pip', ENVIRONMENT_VENV]),
      exec(['python3', '-m', 'pip', '--python', ENVIRONMENT_PYTHON, 'install', '--no-cache-dir', '--progress-bar', 'off', ...sources, '--', ...python]),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The environment image's tag: the hash of exactly what builds it. */
export function environmentImageTag(from: ServableImage, dockerfile: string, wheelhouse: string[]): string {
  const hash = createHash('sha256').update([from.id, dockerfile, ...wheelhouse].join('\0')).digest('hex').slice(0, 32);
  return `modelhub/env:${hash}`;
}

/** name\0size of each wheel of the local find-links folders, so a changed wheelhouse builds anew. */
async function wheelhouseListing(pip: PipSources): Promise<{ folder: string; index: number; files: string[] }[]> {
  const listing = [];
  for (const [index, link] of (pip.findLinks ?? []).entries()) {
    if (!isLocal(link)) continue;
    const folder = localFolder(link);
    const files = (await readdir(folder).catch(() => [] as string[])).filter((file) => WHEEL_FILE.test(file)).sort();
    listing.push({ folder, index, files });
  }
  return listing;
}

/**
 * The image of `environment` on `from` (the hub's Python base image), built if it is not on the
 * engine yet. Undefined when there is nothing to install. Concurrent calls for one environment
 * share one build; an IMAGE_BUILD_FAILED names apt's or pip's failing line.
 */
export async function ensureEnvironmentImage(
  engine: ContainerEngine,
  declared: ServableEnvironment | undefined,
  from: ServableImage,
  options: { pip?: PipSources; instance: string; onLog?: (line: string) => void; workDir?: string },
): Promise<ServableImage | undefined> {
  const environment = normalizeEnvironment(declared);
  if (!environment) return undefined;
  const log = options.onLog ?? (() => {});
  const pip = options.pip ?? {};
  const dockerfile = environmentDockerfile(from.ref, environment, pip);
  const wheelhouse = await wheelhouseListing(pip);
  const fingerprint: string[] = [];
  for (const { folder, files } of wheelhouse) {
    for (const file of files) fingerprint.push(`${file}\0${(await stat(path.join(folder, file))).size}`);
  }
  const tag = environmentImageTag(from, dockerfile, fingerprint);
  const pending = building.get(tag);
  if (pending) {
    log(`environment image ${tag}: another publish is building it; waiting`);
    return pending;
  }
  const existing = await engine.findImage(tag);
  if (existing) {
    log(`environment image ${tag}: already built; reusing it`);
    return existing;
  }
  const build = (async () => {
    const contextDir = await mkdtemp(path.join(options.workDir ?? os.tmpdir(), 'modelhub-env-'));
    try {
      await writeFile(path.join(contextDir, 'Dockerfile'), dockerfile);
      for (const { folder, index, files } of wheelhouse) {
        const target = path.join(contextDir, 'wheelhouse', String(index));
        await mkdir(target, { recursive: true });
        for (const file of files) await copyFile(path.join(folder, file), path.join(target, file));
      }
      log(`environment image ${tag}: building (${[...(environment.debian ?? []), ...(environment.python ?? [])].join(', ')})`);
      return await engine.build({
        contextDir,
        tag,
        labels: { [LABELS.role]: 'environment', [LABELS.instance]: options.instance },
        onLog: (line) => log(line),
      });
    } finally {
      await rm(contextDir, { recursive: true, force: true });
    }
  })().finally(() => building.delete(tag));
  building.set(tag, build);
  return build;
}
