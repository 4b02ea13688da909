import type { ServableListItem as ApiServableListItem } from '../../schemas/api.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';

/** One servable in a listing: its latest version (the hub's `ServableListItem` document). */
export type ServableListItem = ApiServableListItem;

export interface ListServablesParams extends HubParams {
  owner?: string;
  /** Page size asked of the hub (it may cap it); every page is fetched in turn. */
  pageSize?: number;
  /** Stop after this many items. */
  limit?: number;
}

/** Every servable the caller may see, newest first, following `next_cursor` page by page. */
export async function* listServables(params: ListServablesParams): AsyncGenerator<ServableListItem> {
  let cursor: string | null | undefined;
  let count = 0;
  do {
    const query = new URLSearchParams();
    if (params.owner) query.set('owner', params.owner);
    query.set('limit', String(Math.min(params.pageSize ?? 100, params.limit ?? Infinity)));
    if (cursor) query.set('cursor', cursor);
    const page = await hubJson<{ items: ServableListItem[]; next_cursor?: string | null }>(
      params,
      apiUrl(params, '/servables', query),
    );
    for (const item of page.items) {
      if (params.limit !== undefined && count >= params.limit) return;
      count++;
      yield item;
    }
    cursor = page.next_cursor;
  } while (cursor && (params.limit === undefined || count < params.limit));
}
