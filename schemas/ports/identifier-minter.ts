/**
 * Mints persistent identifiers for servable versions. The local minter's identifiers resolve
 * through `/api/v1/identifiers`; a DataCite minter creates DOIs.
 */
import type { PublishedMetadata } from '../metadata.ts';

export interface MintedIdentifier {
  identifier: string;
  /** e.g. DOI, or LOCAL for the hub's own */
  identifierType: string;
  state: string;
  /** The identifier that names all versions of the servable. */
  conceptIdentifier?: string;
}

/** What a remote registration agency should hold for one identifier (see identifier-retry.ts). */
export interface IdentifierPush {
  identifier: string;
  /** The DataCite attributes (creators, titles, relatedIdentifiers, url, ...) of the record. */
  attributes: Record<string, unknown>;
  /** publish: findable; hide: withdrawn from search (findable becomes registered); none: stays a draft. */
  event?: 'publish' | 'hide';
}

export interface IdentifierMinter {
  readonly kind: string;
  /** The identifier a version will have; must not talk to a remote service. */
  mint(document: PublishedMetadata): Promise<MintedIdentifier>;
  /**
   * The identifier of a citable collection owner/name (docs/collections.md), never one a servable
   * could have; must not talk to a remote service (a remote agency's record is made by `push`).
   */
  collectionIdentifier?(owner: string, name: string): MintedIdentifier;
  /** Called when metadata or visibility changes (no-op for the local minter). */
  update?(document: PublishedMetadata): Promise<void>;
  /** Called on withdrawal. */
  hide?(identifier: string): Promise<void>;
  /** A URL at which the identifier resolves (doi.org for a DOI, this hub's API for a local one). */
  resolverUrl?(identifier: string): string;
  /** The hub's landing page of the identifier: the `url` a remote agency redirects to. */
  landingUrl?(identifier: string): string;
  /**
   * Minters backed by a remote agency: create or update the record and apply the event, returning
   * the agency's state for it (draft, findable, registered). Throws BACKEND_UNAVAILABLE when the
   * agency cannot be reached or refuses; the caller keeps the identifier `pending` and retries.
   */
  push?(request: IdentifierPush): Promise<string>;
}

/** A DOI (10.<registrant>/<suffix>), as opposed to the hub's own local identifiers. */
export const isDoi = (identifier: string): boolean => /^10\.\d{4,9}\/\S+$/.test(identifier);

/**
 * The path of an identifier's landing page below `/id/`: DOIs and local identifiers keep their
 * slashes and colons, as doi.org shows them; anything else is escaped.
 */
export function landingPath(identifier: string): string {
  return `/id/${encodeURIComponent(identifier).replace(/%2F/gi, '/').replace(/%3A/gi, ':')}`;
}
