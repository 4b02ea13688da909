/**
 * Who may see and change what. One place, so that every route, the v2 protocol, search and the
 * Action Provider decide alike; a servable the viewer may not see is reported exactly as an
 * unknown one, so that replies never reveal that a private servable exists.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { Viewer } from '../ports/search-index.ts';
import type { TokenInfo, TokenScope } from '../ports/token-store.ts';

export function canView(document: PublishedMetadata, viewer: Viewer): boolean {
  const hub = document.hub;
  if (hub.visibility !== 'private') return true;
  if (viewer.admin) return true;
  if (viewer.user === undefined) return false;
  if (viewer.user === hub.owner) return true;
  if (hub.shared_with?.users?.includes(viewer.user)) return true;
  const groups = hub.shared_with?.groups ?? [];
  return (viewer.groups ?? []).some((group) => groups.includes(group));
}

/** Whether the viewer may manage (withdraw, change) the servables of `owner`. */
export function canManage(owner: string, viewer: Viewer): boolean {
  return viewer.admin === true || viewer.user === owner;
}

/** `admin` implies every scope, and every valid token may read. */
export function hasScope(scopes: readonly TokenScope[], wanted: TokenScope): boolean {
  return wanted === 'read' || scopes.includes('admin') || scopes.includes(wanted);
}

/** The viewer a token speaks for. */
export function viewerOf(token: Pick<TokenInfo, 'user' | 'groups' | 'scopes'>): Viewer {
  return { user: token.user, groups: [...token.groups], admin: token.scopes.includes('admin') };
}

/**
 * Whether a viewer may read a task: its creator or an admin; a task started anonymously by
 * whoever holds its id (task ids are random UUIDs). `creator` undefined: not recorded.
 */
export function canSeeTask(creator: string | null | undefined, viewer: Viewer): boolean {
  if (creator === undefined || creator === null) return true;
  return viewer.admin === true || viewer.user === creator;
}
