/**
 * Unpacking an uploaded `.tar`, `.tar.gz`/`.tgz` or `.zip` of a model folder. An entry whose path
 * is absolute or climbs out of the folder, and any link, refuses the whole archive: a model folder
 * never needs them, and an archive that has them is a mistake or an attack. So does an archive
 * that would unpack to more entries or bytes than its limits (a zip bomb): sizes are read from the
 * entries' headers and checked before their bytes are written. Names the file system cannot take
 * (a NUL byte, a name over 255 bytes) and entries that would replace one another (a file `a` and a
 * folder `a/`, one name twice) are the archive's fault too: refused as INVALID_ARCHIVE before any
 * file-system call could fail on them. The folder entry `./` that `tar czf m.tgz -C dir .` writes
 * is the model folder itself, not an escape.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { HubError } from '../schemas/errors.ts';

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

export function archiveKind(fileName: string): ArchiveKind | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  if (lower.endsWith('.zip')) return 'zip';
  return undefined;
}

/** NAME_MAX of Linux file systems (ext4, xfs, tmpfs): the most bytes one file or folder name may have. */
export const MAX_NAME_BYTES = 255;
/** Far beyond any real model folder's paths, and well within PATH_MAX (4096) below the hub's data folder. */
export const MAX_RELATIVE_PATH_BYTES = 1024;

/**
 * Why `entry` (a client's file name or an archive entry) cannot be a path inside a model folder, or
 * undefined when it can. Every file name a client sends goes through here before the file system
 * sees it, so that its mistakes are the client's 4xx, not the hub's ENAMETOOLONG or null-byte 500.
 */
export function pathProblem(entry: string): string | undefined {
  // C0 controls and DEL: a NUL byte is refused by every file-system call, and newlines or escapes in
  // names garble logs, listings and citations; no model file needs them.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  if (/[\u0000-\u001f\u007f]/.test(entry)) return 'holds a control character (a NUL byte, a newline)';
  if (Buffer.byteLength(entry, 'utf8') > MAX_RELATIVE_PATH_BYTES) return `is longer than ${MAX_RELATIVE_PATH_BYTES} bytes`;
  const normalized = entry.replace(/\\/g, '/');
  if (normalized.startsWith('/') || /^[a-zA-Z]:/.test(normalized)) return 'escapes the model folder (an absolute path)';
  const parts = normalized.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) return 'escapes the model folder (a ".." segment)';
  if (parts.length === 0) return 'names no file (only the folder itself)';
  const long = parts.find((part) => Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES);
  if (long !== undefined) return `has a name longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

/** A relative path that stays inside its folder and that the file system can take, with forward slashes; otherwise undefined. */
export function safeRelativePath(entry: string): string | undefined {
  if (pathProblem(entry) !== undefined) return undefined;
  return entry
    .replace(/\\/g, '/')
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

/** The model folder itself (`./`, `.`): the entry `tar -C dir .` writes first, harmless and skipped. */
const isRootFolder = (entry: string) => entry.replace(/\\/g, '/').split('/').every((part) => part === '' || part === '.');

const refuse = (entry: string, why: string) =>
  new HubError('INVALID_ARCHIVE', `entry "${shorten(entry)}" ${why}`, { details: { entry: shorten(entry) } });

/** A name as messages quote it: control characters visible, and at most 200 characters of it. */
const shorten = (entry: string) => {
  const visible = JSON.stringify(entry).slice(1, -1);
  return visible.length > 200 ? `${visible.slice(0, 200)}…` : visible;
};

/**
 * The files and folders an archive has laid down so far. A later entry of the same path would
 * silently replace an earlier one (tar overwrites; a zip's second `a` would too), and a file `a`
 * beside a folder `a/` fails in mkdir or open: both are ambiguous archives, refused with a reason.
 */
class EntryPaths {
  private readonly files = new Set<string>();
  private readonly folders = new Set<string>();

  /** Records `relative`; returns why it clashes with an earlier entry, or undefined. */
  add(relative: string, isFolder: boolean): string | undefined {
    if (this.files.has(relative)) return isFolder ? 'is a folder of the same name as a file before it' : 'appears twice in the archive';
    if (this.folders.has(relative)) {
      // A folder named twice is harmless (tar writes each level, zips sometimes repeat them).
      return isFolder ? undefined : 'is a file of the same name as a folder before it';
    }
    // Walk up until a folder already checked: each path's ancestors are checked once, not per entry.
    const ancestors: string[] = [];
    for (let slash = relative.lastIndexOf('/'); slash > 0; slash = relative.lastIndexOf('/', slash - 1)) {
      const ancestor = relative.slice(0, slash);
      if (this.folders.has(ancestor)) break;
      if (this.files.has(ancestor)) return `lies inside "${shorten(ancestor)}", which is a file before it`;
      ancestors.push(ancestor);
    }
    for (const ancestor of ancestors) this.folders.add(ancestor);
    (isFolder ? this.folders : this.files).add(relative);
    return undefined;
  }
}

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
  const laid = new EntryPaths();
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
      } else if (type === 'Directory' && isRootFolder(entryPath)) {
        return false;
      } else {
        const problem = pathProblem(entryPath);
        refused ??= problem === undefined ? undefined : refuse(entryPath, problem);
        const clash = refused ? undefined : laid.add(safeRelativePath(entryPath)!, type === 'Directory');
        if (clash) refused ??= refuse(entryPath, clash);
      }
      return refused === undefined;
    },
  }).catch((error: unknown) => {
    throw refused ?? new HubError('INVALID_ARCHIVE', `not a readable tar archive: ${(error as Error).message}`);
  });
  if (refused) throw refused;
}

async function extractZip(file: string, destination: string, limits: ArchiveLimits): Promise<void> {
  const counted = budget((await fsp.stat(file)).size, limits);
  const laid = new EntryPaths();
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
        const isFolder = entry.fileName.endsWith('/');
        if (isFolder && isRootFolder(entry.fileName)) return zip.readEntry();
        const problem = pathProblem(entry.fileName);
        if (problem) return reject(refuse(entry.fileName, problem));
        const relative = safeRelativePath(entry.fileName)!;
        // Unix mode bits live in the high half of the external attributes; 0o120000 marks a link.
        if (((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000) {
          return reject(refuse(entry.fileName, 'is a link, which a model archive may not hold'));
        }
        const clash = laid.add(relative, isFolder);
        if (clash) return reject(refuse(entry.fileName, clash));
        const target = path.join(destination, relative);
        if (isFolder) {
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
