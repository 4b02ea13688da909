import type { SearchReply } from '../../schemas/api.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { SearchQueryBuilder } from '../query-builder.ts';

/** `GET /search` with free text or a built query: hits, total and facets. */
export function searchServables(params: HubParams & { query: string | SearchQueryBuilder }): Promise<SearchReply> {
  const builder = typeof params.query === 'string' ? new SearchQueryBuilder().text(params.query) : params.query;
  return hubJson<SearchReply>(params, apiUrl(params, '/search', builder.toParams()));
}
