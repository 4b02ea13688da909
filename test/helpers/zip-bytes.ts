/**
 * Zip archives that say anything a hostile zip says (names with NUL bytes, `..` segments, link
 * modes), which zip tools refuse or quietly repair: the hub's own zip writer writes what it is given.
 */
import { zipArchive } from '../../hub-server/use-cases/zip-archive.ts';

/** One zip of `entries`, stored or deflated, with Unix modes (0o100644 by default; 0o120777 is a link). */
export function zipOf(entries: { name: string; data?: Buffer; mode?: number; deflate?: boolean }[]): Buffer {
  return zipArchive(entries.map((entry) => ({ ...entry, data: entry.data ?? Buffer.alloc(0) })));
}
