/**
 * Who may see and change what. One place, so that every route, the v2 protocol, search and the
 * Action Provider decide alike; a servable the viewer may not see is reported exactly as an
 * unknown one, so that replies never reveal that a private servable exists.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { VersionRecord } from '../../schemas/ports/registry.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { TokenInfo, TokenScope } from '../../schemas/ports/token-store.ts';
import type { EndpointRecord } from '../../schemas/ports/endpoint-store.ts';

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

/** The versions (as `Registry.listVersions` gives them, newest first) this viewer may see. */
export function visibleVersions(records: readonly VersionRecord[], viewer: Viewer): VersionRecord[] {
  return records.filter((record) => record.document !== undefined && canView(record.document, viewer));
}

/**
 * The one rule for which version a caller means, used by every route (describe, run, v2, the
 * Action Provider, citations, identifiers): (servable's versions, optional version, viewer) → the
 * version document. Without a version it is the newest published version THIS viewer may see, so a
 * private version 2 never hides the public version 1 from everyone else. A version the viewer may
 * not see answers exactly as one that does not exist (VERSION_NOT_FOUND when the viewer sees other
 * versions, SERVABLE_NOT_FOUND when none), so no reply reveals it.
 *
 * `records`: `Registry.listVersions(owner, name)` (published and withdrawn versions, newest first).
 */
export function resolveVisibleVersion(
  records: readonly VersionRecord[],
  ref: { owner: string; name: string; version?: number },
  viewer: Viewer,
): PublishedMetadata {
  const servable = `${ref.owner}/${ref.name}`;
  const visible = visibleVersions(records, viewer);
  if (ref.version !== undefined) {
    const record = visible.find((v) => v.version === ref.version);
    if (!record) throw new HubError(visible.length > 0 ? 'VERSION_NOT_FOUND' : 'SERVABLE_NOT_FOUND', visible.length > 0 ? `${servable}@${ref.version}` : servable);
    if (record.state === 'withdrawn') {
      throw new HubError('SERVABLE_WITHDRAWN', `${servable}@${record.version}`, { details: { withdrawn_at: record.withdrawn_at, reason: record.withdrawn_reason } });
    }
    return record.document!;
  }
  const latest = visible.find((v) => v.state === 'published');
  if (latest) return latest.document!;
  // Every version this viewer may see is withdrawn: the servable is gone, and says so.
  const newest = visible[0];
  if (newest) throw new HubError('SERVABLE_WITHDRAWN', servable, { details: { withdrawn_at: newest.withdrawn_at, reason: newest.withdrawn_reason } });
  throw new HubError('SERVABLE_NOT_FOUND', servable);
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

/**
 * Who may see and use a compute endpoint: the rule of `canView` for private servables, applied to
 * the endpoint (its owner, an admin, the users and groups it is shared with). Everyone else is told
 * that it does not exist.
 */
export function canUseEndpoint(endpoint: Pick<EndpointRecord, 'owner' | 'shared_with'>, viewer: Viewer): boolean {
  if (viewer.admin) return true;
  if (viewer.user === undefined) return false;
  if (viewer.user === endpoint.owner) return true;
  if (endpoint.shared_with.users.includes(viewer.user)) return true;
  return (viewer.groups ?? []).some((group) => endpoint.shared_with.groups.includes(group));
}

/**
 * Whether a run of `document` may go to an endpoint the caller may use (checked first: one it may
 * not use is ENDPOINT_NOT_FOUND, never confirmed to exist). An endpoint runs with its OWNER's
 * rights (its token fetches only files its owner may see), so a sharer's run of a version the
 * owner may not see is refused with 403 ENDPOINT_FORBIDDEN before it is sent: the caller already
 * sees the endpoint and the servable, so the reply reveals nothing new.
 */
export function endpointMayRun(endpoint: Pick<EndpointRecord, 'owner' | 'owner_groups'>, document: PublishedMetadata): boolean {
  return canView(document, { user: endpoint.owner, groups: endpoint.owner_groups });
}

export function assertEndpointMayRun(endpoint: Pick<EndpointRecord, 'owner' | 'name' | 'owner_groups'>, document: PublishedMetadata): void {
  if (endpointMayRun(endpoint, document)) return;
  throw new HubError(
    'ENDPOINT_FORBIDDEN',
    `${endpoint.owner}/${endpoint.name} runs as ${endpoint.owner}, who may not see ${document.hub.owner}/${document.hub.name}@${document.hub.version}`,
  );
}
