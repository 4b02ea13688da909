/**
 * Who a caller is, in the URN form the Action Provider documents use, and the checks of
 * `runnable_by`, `monitor_by` and `manage_by` against them.
 */
import type { Viewer } from '../ports/search-index.ts';

export const ANONYMOUS_URN = 'urn:modelhub:anonymous';

export const userUrn = (user: string): string =>
  user.startsWith('urn:') ? user : `urn:modelhub:user:${user}`;
export const groupUrn = (group: string): string =>
  group.startsWith('urn:') ? group : `urn:modelhub:group:${group}`;

export const isAnonymous = (viewer: Viewer): boolean => !viewer.user;

/** The caller's own URN: what `creator_id` records. */
export const creatorUrn = (viewer: Viewer): string =>
  viewer.user ? userUrn(viewer.user) : ANONYMOUS_URN;

/** Every principal the caller speaks for: themself and their groups. */
export function principalsOf(viewer: Viewer): Set<string> {
  const set = new Set<string>([creatorUrn(viewer)]);
  for (const group of viewer.groups ?? []) set.add(groupUrn(group));
  return set;
}

/**
 * Whether the caller is one of `allowed`. The creator is implicitly in both monitor_by and
 * manage_by (the specification says so); hub admins may see and manage every action.
 */
export function isAllowed(viewer: Viewer, creator: string, allowed: readonly string[]): boolean {
  if (viewer.admin) return true;
  const mine = principalsOf(viewer);
  if (mine.has(creator) && creator !== ANONYMOUS_URN) return true;
  // Anonymous actions belong to nobody in particular: any anonymous caller holding the
  // unguessable action_id may follow it, which is what a laptop hub without tokens needs.
  if (creator === ANONYMOUS_URN && isAnonymous(viewer)) return true;
  return allowed.some((principal) => mine.has(principal));
}
