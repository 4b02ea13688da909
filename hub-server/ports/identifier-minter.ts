/**
 * Mints persistent identifiers for servable versions. The local minter's identifiers resolve
 * through `/api/v1/identifiers`; a DataCite minter creates DOIs.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';

export interface MintedIdentifier {
  identifier: string;
  /** e.g. DOI, or LOCAL for the hub's own */
  identifierType: string;
  state: string;
  /** The identifier that names all versions of the servable. */
  conceptIdentifier?: string;
}

export interface IdentifierMinter {
  readonly kind: string;
  /** The identifier a version will have; must not talk to a remote service. */
  mint(document: PublishedMetadata): Promise<MintedIdentifier>;
  /** Called when metadata or visibility changes (no-op for the local minter). */
  update?(document: PublishedMetadata): Promise<void>;
  /** Called on withdrawal. */
  hide?(identifier: string): Promise<void>;
}
