import { apiUrl, hubJson, type HubParams } from '../http.ts';

/** What an identifier names: a servable version, or the tombstone of a withdrawn one. */
export interface ResolvedIdentifier {
  identifier: string;
  servable?: string;
  version?: number;
  withdrawn?: boolean;
  [key: string]: unknown;
}

/** `GET /identifiers/{identifier}` (a DOI or the hub's local identifier). */
export function resolveIdentifier(params: HubParams & { identifier: string }): Promise<ResolvedIdentifier> {
  return hubJson<ResolvedIdentifier>(params, apiUrl(params, `/identifiers/${encodeURIComponent(params.identifier)}`));
}
