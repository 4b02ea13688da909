/**
 * Unpacking an uploaded `.tar`, `.tar.gz`/`.tgz` or `.zip` of a model folder. An entry whose path
 * is absolute or climbs out of the folder, and any link, refuses the whole archive: a model folder
 * never needs them, and an archive that has them is a mistake or an attack. So does an archive
 * that would unpack to more entries or bytes than its limits (a zip bomb): sizes are read from the
 * entries' headers and checked before their bytes are written.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { HubError } from '../hub-server/errors.ts';

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

export function archiveKind(fileName: string): ArchiveKind | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  if (lower.endsWith('.zip')) return 'zip';
  return undefined;
}

/** A relative path that stays inside its folder, with forward slashes; otherwise undefined. */
export function safeRelativePath(entry: string): string | undefined {
  const normalized = entry.replace(/\\/g, '/');
  if (normalized.startsWith('/') || /^[a-zA-Z]:/.test(normalized)) return undefined;
  const parts = normalized.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.length === 0 || parts.some((part) => part === '..')) return undefined;
  return parts.join('/');
}

const refuse = (entry: string, why: string) =>
  new HubError('INVALID_ARCHIVE', `entry "${entry}" ${why}`, { details: { entry } });

export interface ArchiveLimits {
  /** Entries (files and folders) an archive may hold. */
  maxEntries: number;
  /** Unpacked bytes may be this many times the archive's own size ... */
  maxRatio: number;
  /** ... or this many bytes, whichever is more (small archives of text compress well). */
  ratioFloorBytes: number;
  /** An absolute bound on unpacked bytes, if any. */
  maxBytes?: number;
}

/**
 * Real model folders hold tens of files, and weights hardly compress (2-3x at most); 200x is only
 * reached by degenerate data such as long runs of zeros.
 */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 10_000, maxRatio: 200, ratioFloorBytes: 64 * 1024 * 1024 };

/** Counts entries and declared bytes as they are met, refusing the archive once either is over. */
function budget(archiveBytes: number, limits: ArchiveLimits) {
  const allowedBytes = Math.min(Math.max(limits.ratioFloorBytes, archiveBytes * limits.maxRatio), limits.maxBytes ?? Infinity);
  let entries = 0;
  let bytes = 0;
  const checkCount = (count: number): HubError | undefined =>
    count <= limits.maxEntries
      ? undefined
      : new HubError('INVALID_ARCHIVE', `it holds more than ${limits.maxEntries} entries`, { details: { max_entries: limits.maxEntries } });
  return {
    checkCount,
    add(entry: string, size: number): HubError | undefined {
      entries += 1;
      bytes += size;
      const tooMany = checkCount(entries);
      if (tooMany) return tooMany;
      if (bytes <= allowedBytes) return undefined;
      return new HubError('INVALID_ARCHIVE', `it unpacks to more than ${allowedBytes} bytes (at entry "${entry}"), more than ${limits.maxRatio} times its own ${archiveBytes}`, {
        details: { entry, max_unpacked_bytes: allowedBytes },
      });
    },
  };
}

async function extractTar(file: string, destination: string, gzip: boolean, limits: ArchiveLimits): Promise<void> {
  let refused: HubError | undefined;
  const counted = budget((await fsp.stat(file)).size, limits);
  await tar.x({
    file,
    cwd: destination,
    gzip: gzip || undefined,
    strict: true,
    preservePaths: false,
    filter: (entryPath, entry) => {
      const type = 'type' in entry ? entry.type : undefined;
      if (refused) return false;
      refused = counted.add(entryPath, 'size' in entry && typeof entry.size === 'number' ? entry.size : 0);
      if (refused) return false;
      if (type === 'SymbolicLink' || type === 'Link') refused ??= refuse(entryPath, 'is a link, which a model archive may not hold');
      else if (type !== undefined && type !== 'File' && type !== 'Directory' && type !== 'OldFile' && type !== 'ContiguousFile') {
        refused ??= refuse(entryPath, `is a ${type}, which a model archive may not hold`);
      } else if (!safeRelativePath(entryPath)) refused ??= refuse(entryPath, 'escapes the model folder');
      return refused === undefined;
    },
  }).catch((error: unknown) => {
    throw refused ?? new HubError('INVALID_ARCHIVE', `not a readable tar archive: ${(error as Error).message}`);
  });
  if (refused) throw refused;
}

async function extractZip(file: string, destination: string, limits: ArchiveLimits): Promise<void> {
  const counted = budget((await fsp.stat(file)).size, limits);
  // validateEntrySizes: an entry that inflates to more than its header declares is an error, so
  // the declared sizes counted below bound what is written.
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true }, (error, opened) =>
      error ? reject(new HubError('INVALID_ARCHIVE', `not a readable zip archive: ${error.message}`)) : resolve(opened),
    ),
  );
  try {
    const tooMany = counted.checkCount(zip.entryCount);
    if (tooMany) throw tooMany;
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (error: Error) => reject(new HubError('INVALID_ARCHIVE', `not a readable zip archive: ${error.message}`)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const overBudget = counted.add(entry.fileName, entry.uncompressedSize);
        if (overBudget) return reject(overBudget);
        const relative = safeRelativePath(entry.fileName);
        if (!relative) return reject(refuse(entry.fileName, 'escapes the model folder'));
        // Unix mode bits live in the high half of the external attributes; 0o120000 marks a link.
        if (((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000) {
          return reject(refuse(entry.fileName, 'is a link, which a model archive may not hold'));
        }
        const target = path.join(destination, relative);
        if (entry.fileName.endsWith('/')) {
          fsp.mkdir(target, { recursive: true }).then(() => zip.readEntry(), reject);
          return;
        }
        zip.openReadStream(entry, (error, stream) => {
          if (error) return reject(new HubError('INVALID_ARCHIVE', `cannot read "${entry.fileName}": ${error.message}`));
          fsp
            .mkdir(path.dirname(target), { recursive: true })
            .then(() => pipeline(stream, fs.createWriteStream(target)))
            .then(() => zip.readEntry(), (e: Error) => reject(new HubError('INVALID_ARCHIVE', `cannot read "${entry.fileName}": ${e.message}`)));
        });
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** Extract into `destination` (created) within `limits`; throws INVALID_ARCHIVE and leaves no partial folder. */
export async function extractArchive(file: string, kind: ArchiveKind, destination: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  await fsp.mkdir(destination, { recursive: true });
  try {
    if (kind === 'zip') await extractZip(file, destination, limits);
    else await extractTar(file, destination, kind === 'tar.gz', limits);
  } catch (error) {
    await fsp.rm(destination, { recursive: true, force: true });
    throw error;
  }
}

/** Every regular file below `root`, as paths relative to it with forward slashes, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await fsp.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}
