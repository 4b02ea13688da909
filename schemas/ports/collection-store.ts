/**
 * Where citable collections are kept (docs/collections.md). The embedded adapter is SQLite
 * (`collections.db`); the store holds records, the use case (use-cases/collections/) decides who
 * may see what.
 */
import type { Creator } from '../metadata.ts';

export interface CollectionMemberRef {
  owner: string;
  name: string;
  version: number;
}

export interface CollectionRecord {
  owner: string;
  name: string;
  title: string;
  description?: string;
  creators: Creator[];
  members: CollectionMemberRef[];
  visibility: 'public' | 'private';
  identifier: string;
  identifier_type: string;
  /** local, draft, findable, registered, or pending (a remote agency has yet to take it). */
  identifier_state: string;
  last_error?: string;
  created_at: string;
  updated_at: string;
  withdrawn_at?: string;
}

export interface CollectionQuery {
  /** Words that must all appear (case folded) in the title, description, creators' names or owner/name. */
  words?: string[];
  owner?: string;
  /** Collections that have this member (any version of it when version is undefined). */
  containing?: { owner: string; name: string; version?: number };
  /** Only what this reader may see: public ones, and private ones of `user` (everything for an admin). */
  visibleTo?: { user?: string; admin?: boolean };
  identifierState?: string;
  /** Withdrawn collections too (default: not). */
  withdrawn?: boolean;
  limit?: number;
  offset?: number;
}

export interface CollectionStore {
  readonly kind: string;
  /** Add a new collection; CONFLICT (COLLECTION_EXISTS) when owner/name is taken, withdrawn ones included. */
  create(record: CollectionRecord): Promise<void>;
  /** Replace an existing collection's record (owner/name and identifier stay). */
  update(record: CollectionRecord): Promise<void>;
  get(owner: string, name: string): Promise<CollectionRecord | undefined>;
  getByIdentifier(identifier: string): Promise<CollectionRecord | undefined>;
  /** Newest first; `total` counts every match, `records` the page. */
  list(query: CollectionQuery): Promise<{ total: number; records: CollectionRecord[] }>;
  close(): Promise<void>;
}
