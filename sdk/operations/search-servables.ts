import type { SearchReply, SearchSort } from '../../schemas/api.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { SearchQueryBuilder } from '../query-builder.ts';

/**
 * `GET /search` with free text or a built query: hits, total and facets. `sort`, when given,
 * overrides the builder's `sortBy`; the hub orders by relevance otherwise.
 */
export function searchServables(params: HubParams & { query: string | SearchQueryBuilder; sort?: SearchSort }): Promise<SearchReply> {
  const builder = typeof params.query === 'string' ? new SearchQueryBuilder().text(params.query) : params.query;
  const query = builder.toParams();
  if (params.sort !== undefined) query.set('sort', params.sort);
  return hubJson<SearchReply>(params, apiUrl(params, '/search', query));
}
