/**
 * Who a caller is, in the URN form the Action Provider documents use, and the checks of
 * `runnable_by`, `monitor_by` and `manage_by` against them.
 *
 * The Action Provider specification's principals are `urn:globus:auth:identity:<uuid>` and
 * `urn:globus:groups:id:<uuid>`. A caller known to Globus (`Viewer.globusIdentity`) is named by
 * that URN; a hub-only user or group has no Globus identity, so it is named
 * `urn:modelhub:user:<name>` / `urn:modelhub:group:<name>`: a documented deviation (docs/actions.md).
 */
import type { Viewer } from '../../../schemas/ports/viewer.ts';

export const ANONYMOUS_URN = 'urn:modelhub:anonymous';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const userUrn = (user: string): string =>
  user.startsWith('urn:') ? user : `urn:modelhub:user:${user}`;
export const groupUrn = (group: string): string =>
  group.startsWith('urn:') ? group : `urn:modelhub:group:${group}`;
export const globusIdentityUrn = (identity: string): string => `urn:globus:auth:identity:${identity.toLowerCase()}`;

export const isAnonymous = (viewer: Viewer): boolean => !viewer.user;

/**
 * The caller's own URN: what `creator_id` records and what `monitor_by`/`manage_by` default to.
 * The one place that decides it, so that another identity source only has to fill the Viewer.
 */
export const creatorUrn = (viewer: Viewer): string => {
  if (viewer.globusIdentity !== undefined && UUID.test(viewer.globusIdentity)) return globusIdentityUrn(viewer.globusIdentity);
  return viewer.user ? userUrn(viewer.user) : ANONYMOUS_URN;
};

/**
 * Every principal the caller speaks for: their own URN, every federated identity linked to them,
 * their hub user URN (actions recorded before they had a Globus identity, and `monitor_by` lists
 * naming them the hub's way) and their groups.
 */
export function principalsOf(viewer: Viewer): Set<string> {
  const set = new Set<string>([creatorUrn(viewer), ...(viewer.identityUrns ?? [])]);
  if (viewer.user) set.add(userUrn(viewer.user));
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
