/**
 * What a publish uploads. Flat files go as separate `file` parts named by their path; a servable
 * with sub-folders (a TF.js model and its weight shards, a container context) goes as ONE
 * `.tar.gz` whose entries are the paths inside the servable.
 */
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServableFile } from './models/servable-description.ts';

export interface UploadPart {
  /** The part's filename: the path inside the servable, or `servable.tar.gz`. */
  fileName: string;
  localPath: string;
  size: number;
  contentType: string;
}

export interface UploadPlan {
  parts: UploadPart[];
  /** Removes the temporary archive, if one was made. */
  cleanup(): Promise<void>;
}

export const ARCHIVE_NAME = 'servable.tar.gz';

/**
 * Write `files` into a gzipped tar at `archivePath`, each at its servable path. The files may sit
 * anywhere on disk: a folder of links to them is packed with links followed, so nothing is copied.
 */
export async function packFiles(files: ServableFile[], archivePath: string): Promise<void> {
  const staging = await mkdtemp(path.join(tmpdir(), 'modelhub-pack-'));
  try {
    for (const file of files) {
      const target = path.join(staging, ...file.path.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      await symlink(path.resolve(file.localPath), target);
    }
    // tar loads with the first packed upload, not with `import 'modelhub'`.
    const tar = await import('tar');
    await tar.create(
      { gzip: true, file: archivePath, cwd: staging, follow: true, portable: true, noDirRecurse: true },
      files.map((f) => f.path),
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export async function planUpload(files: ServableFile[]): Promise<UploadPlan> {
  if (files.length === 0) throw new TypeError('the servable has no files to upload: add one with addFile()');
  if (files.every((f) => !f.path.includes('/'))) {
    const parts = await Promise.all(
      files.map(async (f) => ({
        fileName: f.path,
        localPath: f.localPath,
        size: (await stat(f.localPath)).size,
        contentType: 'application/octet-stream',
      })),
    );
    return { parts, cleanup: async () => {} };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'modelhub-upload-'));
  const archive = path.join(dir, ARCHIVE_NAME);
  try {
    await packFiles(files, archive);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    parts: [{ fileName: ARCHIVE_NAME, localPath: archive, size: (await stat(archive)).size, contentType: 'application/gzip' }],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
