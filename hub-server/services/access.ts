/**
 * Who may see and change what. One place, so that every route, the v2 protocol, search and the
 * Action Provider decide alike; a servable the viewer may not see is reported exactly as an
 * unknown one, so that replies never reveal that a private servable exists.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { Viewer } from '../ports/search-index.ts';

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
