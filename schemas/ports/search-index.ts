/**
 * The catalogue's search index. Adapters (SQLite FTS5, Elasticsearch) take the same documents and
 * answer the same queries with the same facets; the contract suite holds them to it.
 */
import type { PublishedMetadata } from '../metadata.ts';
import type { SearchQuery, SearchReply } from '../api.ts';
import type { BackendHealth } from './blob-store.ts';
import type { Viewer } from './viewer.ts';

export type IndexQuery = SearchQuery & { viewer?: Viewer };

/**
 * The folded values a `domain` (',') or `author` (';') filter stands for: the SDK and CLI join
 * repeated ones that way, and a servable matches any of them. The whole value is one of them too,
 * so a domain whose own name holds a comma still matches itself.
 */
export function filterAlternatives(value: string, separator: ',' | ';'): string[] {
  const folded = [value, ...value.split(separator)].map((part) => part.trim().toLowerCase()).filter((part) => part !== '');
  return folded.length === 0 ? [''] : [...new Set(folded)];
}

/** A version's reproducibility facet value: its last check's status, or `unchecked` (docs/provenance.md). */
export function reproducibilityOf(document: PublishedMetadata): 'reproducible' | 'drifted' | 'fails' | 'unchecked' {
  return document.hub.reproducibility?.status ?? 'unchecked';
}

export interface SearchIndex {
  readonly kind: string;
  /** Index (or re-index) one published version; searchable when the promise resolves. */
  index(document: PublishedMetadata): Promise<void>;
  /** Remove one version, or every version of owner/name. */
  remove(owner: string, name: string, version?: number): Promise<void>;
  search(query: IndexQuery): Promise<SearchReply>;
  /** Drop everything and index these documents (modelhub reindex). */
  rebuild(documents: AsyncIterable<PublishedMetadata>): Promise<number>;
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}
