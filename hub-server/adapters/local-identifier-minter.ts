/**
 * The default minter: identifiers the hub itself resolves through `/api/v1/identifiers`, minted
 * without talking to anyone, so a laptop hub works offline and a version is identifiable the
 * moment it is published.
 */
import { NAME_PATTERN, OWNER_PATTERN, type PublishedMetadata } from '../../schemas/metadata.ts';
import type { IdentifierMinter, MintedIdentifier } from '../../schemas/ports/identifier-minter.ts';

export const LOCAL_IDENTIFIER_PREFIX = 'modelhub:';
/** Collections have a scheme of their own: `modelhub:collection/x/v2` would read as version 2 of servable collection/x. */
export const LOCAL_COLLECTION_PREFIX = 'modelhub-collection:';

export interface ParsedLocalIdentifier {
  owner: string;
  name: string;
  /** undefined for the concept identifier that names every version. */
  version?: number;
}

const ownerPattern = new RegExp(OWNER_PATTERN);
const namePattern = new RegExp(NAME_PATTERN);

export function localIdentifier(owner: string, name: string, version?: number): string {
  const base = `${LOCAL_IDENTIFIER_PREFIX}${owner}/${name}`;
  return version === undefined ? base : `${base}/v${version}`;
}

/** `modelhub:owner/name[/vN]` → its parts; undefined for anything that is not a local identifier. */
export function parseLocalIdentifier(identifier: string): ParsedLocalIdentifier | undefined {
  const match = /^modelhub:([^/]+)\/([^/]+)(?:\/v([1-9]\d{0,15}))?$/.exec(identifier);
  if (!match) return undefined;
  const [, owner, name, version] = match as unknown as [string, string, string, string | undefined];
  if (!ownerPattern.test(owner) || !namePattern.test(name)) return undefined;
  if (version === undefined) return { owner, name };
  const parsed = Number(version);
  return Number.isSafeInteger(parsed) ? { owner, name, version: parsed } : undefined;
}

export class LocalIdentifierMinter implements IdentifierMinter {
  readonly kind = 'local';
  private readonly publicUrl: string;

  constructor(publicUrl: string) {
    this.publicUrl = publicUrl.replace(/\/+$/, '');
  }

  async mint(document: PublishedMetadata): Promise<MintedIdentifier> {
    const { owner, name, version } = document.hub;
    return {
      identifier: localIdentifier(owner, name, version),
      identifierType: 'LOCAL',
      state: 'local',
      conceptIdentifier: localIdentifier(owner, name),
    };
  }

  collectionIdentifier(owner: string, name: string): MintedIdentifier {
    return { identifier: `${LOCAL_COLLECTION_PREFIX}${owner}/${name}`, identifierType: 'LOCAL', state: 'local' };
  }

  /** Where a person or a machine resolves the identifier on this hub. */
  resolverUrl(identifier: string): string {
    return `${this.publicUrl}/api/v1/identifiers/${encodeURIComponent(identifier)}`;
  }
}
