/**
 * Citable collections (docs/collections.md): create one, read one, find them, cite one. Each is
 * one request; the types are the kernel's schemas.
 */
import type { CollectionCreate, CollectionView } from '../../schemas/collections.ts';
import { apiUrl, hubFetch, hubJson, jsonBody, type HubParams } from '../http.ts';
import { CITATION_FORMATS, type CitationFormat } from './cite-servable.ts';

/** `owner/name` → its route; a malformed name is the caller's TypeError before any request. */
function collectionPath(name: string): string {
  const match = /^([a-z0-9][a-z0-9-]{0,38})\/([a-z0-9][a-z0-9._-]{0,63})$/.exec(name);
  if (!match) throw new TypeError(`"${name}" is not a collection name: use owner/name`);
  return `/collections/${match[1]}/${match[2]}`;
}

export function createCollection(params: HubParams & { name: string; collection: CollectionCreate }): Promise<CollectionView> {
  return hubJson<CollectionView>(params, apiUrl(params, collectionPath(params.name)), { method: 'POST', ...jsonBody(params.collection) });
}

export function getCollection(params: HubParams & { name: string }): Promise<CollectionView> {
  return hubJson<CollectionView>(params, apiUrl(params, collectionPath(params.name)));
}

export function searchCollections(params: HubParams & { q?: string; owner?: string; containing?: string; limit?: number; offset?: number }): Promise<{ total: number; collections: CollectionView[] }> {
  const query = new URLSearchParams();
  for (const key of ['q', 'owner', 'containing', 'limit', 'offset'] as const) {
    if (params[key] !== undefined) query.set(key, String(params[key]));
  }
  return hubJson(params, apiUrl(params, '/collections', query));
}

/** The citation of a collection as text (JSON text for `csl` and `datacite-json`). */
export async function citeCollection(params: HubParams & { name: string; format?: CitationFormat }): Promise<string> {
  const format = params.format ?? 'bibtex';
  if (!CITATION_FORMATS.includes(format)) throw new TypeError(`"${format}" is not a citation format: use one of ${CITATION_FORMATS.join(', ')}`);
  const response = await hubFetch(params, apiUrl(params, `${collectionPath(params.name)}/citation`, new URLSearchParams({ format })), { headers: { accept: '*/*' } });
  return response.text();
}
