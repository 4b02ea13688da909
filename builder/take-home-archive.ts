/**
 * "Take the model home": a `.tar.gz` of one servable version that outlives the hub. It holds the
 * version's files under `model/` (links to the blobs, followed when packed, so nothing is copied
 * first), its metadata document, `SHA256SUMS`, a README with its citation, and a way to serve it
 * locally where one can honestly be given:
 * - python, sklearn, torch: `serve.py` over the hub's own `worker.py` with the hub's worker spec,
 *   so the same inputs give the same outputs, plus a Dockerfile on a public Python image;
 * - onnx: `serve.mjs` on onnxruntime-node with a `package.json` and a Dockerfile on a Node image;
 * - other types: the README says to serve them with a modelhub of one's own.
 * The archive is built in a temporary staging folder and streamed; the folder goes when the
 * stream ends, however it ends.
 */
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { HubError } from '../schemas/errors.ts';
import type { BlobStore } from '../schemas/ports/blob-store.ts';
import type { PublishedMetadata } from '../schemas/metadata.ts';
import { workerSpec, type PythonServableType } from '../servables/python-runtime.ts';
import { WORKER_SCRIPT } from '../servables/python-worker-pool.ts';
import { safeRelativePath } from './archive.ts';

const TEMPLATES = fileURLToPath(new URL('./take-home/', import.meta.url));
const PYTHON_TYPES = new Set<string>(['python', 'sklearn', 'torch']);
/** The onnxruntime-node the hub itself runs, pinned in the archive's package.json. */
const ONNXRUNTIME_VERSION = '1.30.0';

export interface TakeHomeCitation {
  /** Human-readable (APA). */
  text: string;
  bibtex: string;
}

export interface TakeHomeArchive {
  /** `owner-name-v3.tar.gz` */
  fileName: string;
  stream: Readable;
}

/** The folder at the top of the archive (and its file name without `.tar.gz`). */
export function takeHomeFolder(document: PublishedMetadata): string {
  return `${document.hub.owner}-${document.hub.name}-v${document.hub.version}`;
}

/** Requirement lines for a local install: declared ones first, else the versions the hub saw imported. */
export function localRequirements(document: PublishedMetadata): string[] {
  const declared = document.servable.environment?.python;
  if (declared && declared.length > 0) return declared;
  const packages = (document.hub.dependencies as { packages?: Record<string, unknown> } | undefined)?.packages ?? {};
  return Object.entries(packages)
    .filter(([, version]) => typeof version === 'string')
    .map(([name, version]) => `${name}==${String(version)}`);
}

function readme(document: PublishedMetadata, citation: TakeHomeCitation, serving: string): string {
  const { owner, name, version, identifier } = document.hub;
  const title = document.datacite.titles[0]?.title ?? `${owner}/${name}`;
  const abstract = document.datacite.descriptions?.find((d) => d.descriptionType === 'Abstract' || !d.descriptionType)?.description;
  return [
    `# ${title}`,
    '',
    `${owner}/${name} version ${version}, a ${document.servable.type} servable; identifier ${identifier}.`,
    `Authors: ${document.datacite.creators.map((c) => c.name).join('; ')}.`,
    ...(abstract ? ['', abstract] : []),
    '',
    '## How to cite it',
    '',
    citation.text.trim(),
    '',
    '```bibtex',
    citation.bibtex.trim(),
    '```',
    '',
    '(also in `CITATION.bib`)',
    '',
    '## What is here',
    '',
    '- `model/`: the published files; `SHA256SUMS` holds their digests (`sha256sum -c SHA256SUMS`).',
    '- `metadata.json`: the full metadata document (DataCite record, files, declared methods).',
    '',
    '## Serve it locally',
    '',
    serving,
    '',
  ].join('\n');
}

const PYTHON_SERVING = [
  'The hub\'s own Python worker (`worker.py`) loads the files with the same spec (`spec.json`), so the',
  'same inputs give the same outputs as the hub:',
  '',
  '```sh',
  'python3 -m pip install -r requirements.txt   # the libraries the servable imports',
  'python3 serve.py --port 8080',
  'curl -s localhost:8080/run -H content-type:application/json -d \'{"inputs": ...}\'',
  '```',
  '',
  'Or in Docker: `docker build -t my-model . && docker run -p 8080:8080 my-model`.',
].join('\n');

const ONNX_SERVING = [
  'A small Node.js server on onnxruntime-node reads inputs and writes outputs as the hub does:',
  '',
  '```sh',
  'npm install',
  'node serve.mjs --port 8080',
  'curl -s localhost:8080/run -H content-type:application/json -d \'{"inputs": [[...]]}\'',
  '```',
  '',
  'Or in Docker: `docker build -t my-model . && docker run -p 8080:8080 my-model`.',
].join('\n');

const OTHER_SERVING = (type: string) =>
  `No stand-alone server is included for ${type} servables: serve the files with a modelhub of your own (\`modelhub serve\`, then \`modelhub publish model --metadata metadata.json\`).`;

/** Writes the serving files for the version's type into `dir`; returns the README's section. */
async function writeServing(dir: string, document: PublishedMetadata): Promise<string> {
  const type = document.servable.type;
  if (PYTHON_TYPES.has(type)) {
    const files = document.hub.files.map((file) => ({ ...file, localPath: path.join(dir, 'model', file.path) }));
    const spec = workerSpec(type as PythonServableType, document.servable, files, 'model');
    const specDocument = { name: `${document.hub.owner}/${document.hub.name}`, version: document.hub.version, type, worker: spec };
    await writeFile(path.join(dir, 'spec.json'), `${JSON.stringify(specDocument, null, 2)}\n`);
    await copyFile(path.join(TEMPLATES, 'serve.py'), path.join(dir, 'serve.py'));
    await copyFile(WORKER_SCRIPT, path.join(dir, 'worker.py'));
    const requirements = localRequirements(document);
    await writeFile(path.join(dir, 'requirements.txt'), requirements.length > 0 ? `${requirements.join('\n')}\n` : '');
    await writeFile(
      path.join(dir, 'Dockerfile'),
      [
        'FROM python:3.11-slim-bookworm',
        'WORKDIR /srv/model',
        'COPY requirements.txt .',
        'RUN python3 -m pip install --no-cache-dir -r requirements.txt',
        'COPY . .',
        'USER 10001:10001',
        'EXPOSE 8080',
        'CMD ["python3", "serve.py", "--host", "0.0.0.0", "--port", "8080"]',
        '',
      ].join('\n'),
    );
    return PYTHON_SERVING;
  }
  if (type === 'onnx') {
    await copyFile(path.join(TEMPLATES, 'serve-onnx.mjs'), path.join(dir, 'serve.mjs'));
    const pkg = { name: `${document.hub.owner}-${document.hub.name}`, version: `${document.hub.version}.0.0`, private: true, type: 'module', dependencies: { 'onnxruntime-node': ONNXRUNTIME_VERSION } };
    await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    await writeFile(
      path.join(dir, 'Dockerfile'),
      [
        'FROM node:20-bookworm-slim',
        'WORKDIR /srv/model',
        'COPY package.json .',
        'RUN npm install --omit=dev --no-audit --no-fund',
        'COPY . .',
        'USER node',
        'EXPOSE 8080',
        'CMD ["node", "serve.mjs", "--host", "0.0.0.0", "--port", "8080"]',
        '',
      ].join('\n'),
    );
    return ONNX_SERVING;
  }
  return OTHER_SERVING(type);
}

/**
 * Stage and stream the archive. Blob files are linked, not copied (a remote store downloads them
 * into its cache once, through `localPath`), and tar follows the links as it packs.
 */
export async function takeHomeArchive(
  blobs: BlobStore,
  document: PublishedMetadata,
  citation: TakeHomeCitation,
  workDir: string = os.tmpdir(),
): Promise<TakeHomeArchive> {
  await mkdir(workDir, { recursive: true });
  const staging = await mkdtemp(path.join(workDir, 'take-home-'));
  const folder = takeHomeFolder(document);
  const dir = path.join(staging, folder);
  const cleanup = () => rm(staging, { recursive: true, force: true });
  try {
    await mkdir(path.join(dir, 'model'), { recursive: true });
    const sums: string[] = [];
    for (const file of document.hub.files) {
      const relative = safeRelativePath(file.path);
      if (!relative) throw new HubError('INTERNAL', `stored file path ${file.path} escapes the servable's folder`);
      const target = path.join(dir, 'model', relative);
      await mkdir(path.dirname(target), { recursive: true });
      await symlink(await blobs.localPath(file.sha256), target);
      sums.push(`${file.sha256}  model/${relative}`);
    }
    await writeFile(path.join(dir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    await writeFile(path.join(dir, 'metadata.json'), `${JSON.stringify(document, null, 2)}\n`);
    await writeFile(path.join(dir, 'CITATION.bib'), `${citation.bibtex.trim()}\n`);
    const serving = await writeServing(dir, document);
    await writeFile(path.join(dir, 'README.md'), readme(document, citation, serving));
  } catch (error) {
    await cleanup();
    throw error;
  }
  // follow: pack the blobs the links point at; portable: no owner names or uids of this machine.
  // The pipeline ends however the download does (finished, or the client gone), and then the
  // staging folder goes.
  const pack = tar.c({ gzip: true, cwd: staging, follow: true, portable: true }, [folder]) as unknown as Readable;
  const stream = new PassThrough();
  pipeline(pack, stream).then(cleanup, cleanup);
  return { fileName: `${folder}.tar.gz`, stream };
}
