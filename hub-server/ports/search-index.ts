/**
 * The catalogue's search index. Adapters (SQLite FTS5, Elasticsearch) take the same documents and
 * answer the same queries with the same facets; the contract suite holds them to it.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { SearchQuery, SearchReply } from '../../schemas/api.ts';
import type { BackendHealth } from './blob-store.ts';

/** Who is asking: decides which private servables are visible. */
export interface Viewer {
  user?: string;
  groups?: string[];
  admin?: boolean;
}

export type IndexQuery = SearchQuery & { viewer?: Viewer };

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
