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
  /**
   * The caller's Globus Auth identity id (a UUID), where sign-in or token introspection
   * established one: the Action Provider then names them `urn:globus:auth:identity:<id>`.
   */
  globusIdentity?: string;
  /**
   * Every federated identity the caller speaks for, as URNs (`urn:globus:auth:identity:<id>` for
   * each identity of a Globus identity set or linked to the hub user): what `whoami` reports.
   */
  identityUrns?: string[];
}

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
