/**
 * Identity mapping: from what an identity provider says (OpenID Connect claims, a Globus Auth
 * introspection) to the hub's viewer. A configurable claim names the user (normalised to the owner
 * pattern), another gives the groups; the admin group makes admins. The first sign-in of an
 * identity links it to its user name, and with that creates the user; a name that already belongs
 * to another identity is refused, never shared.
 */
import { OWNER_PATTERN, GROUP_PATTERN } from '../../schemas/metadata.ts';
import type { OidcConfig } from './oidc-relying-party.ts';
import { HubError } from '../../schemas/errors.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { IdentityLink, TokenStore } from '../../schemas/ports/token-store.ts';
import { GLOBUS_GROUP_URN, GLOBUS_ISSUER, identityUrn, type GlobusCaller } from './globus-auth-client.ts';
import type { IdentityClaims } from './oidc-relying-party.ts';

const OWNER = new RegExp(OWNER_PATTERN);
const GROUP = new RegExp(GROUP_PATTERN);

/** Lower case, accents dropped, anything else a hyphen: `José.García@x` → `jose-garcia`. */
function normalise(value: string, maxLength: number, keep: RegExp): string {
  return value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(keep, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, maxLength)
    .replace(/-+$/, '');
}

/**
 * The hub user name a set of claims gives: the claim's value, or the local part of an e-mail
 * address, normalised to `^[a-z0-9][a-z0-9-]{0,38}$`; undefined when nothing usable is there.
 */
export function userNameFromClaims(claims: Record<string, unknown>, claim: string): string | undefined {
  const raw = claims[claim];
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  const local = raw.includes('@') ? raw.slice(0, raw.indexOf('@')) : raw;
  const name = normalise(local, 39, /[^a-z0-9-]/g);
  return OWNER.test(name) ? name : undefined;
}

/**
 * The groups a set of claims gives, as hub group names: a list or a space-separated string;
 * Keycloak's paths (`/lab/astro`) become `lab.astro`, URNs keep their parts (`urn:mace:x:lab` →
 * `urn-mace-x-lab`), Globus group URNs stay as they are.
 */
export function groupsFromClaims(claims: Record<string, unknown>, claim: string): string[] | undefined {
  const raw = claims[claim];
  const values = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/\s+/) : undefined;
  if (values === undefined) return undefined;
  const groups = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string' || value === '') continue;
    if (value.toLowerCase().startsWith(GLOBUS_GROUP_URN)) {
      groups.add(value.toLowerCase());
      continue;
    }
    const group = normalise(value.replace(/^\/+/, '').replace(/\//g, '.'), 64, /[^a-z0-9._-]/g);
    if (GROUP.test(group)) groups.add(group);
  }
  return [...groups].sort();
}

export function isAdmin(groups: readonly string[], settings: Pick<OidcConfig, 'adminGroup'> | undefined): boolean {
  return settings?.adminGroup !== undefined && groups.includes(settings.adminGroup);
}

/** The Globus identity URNs among a user's links (and the issuer's own, when it is Globus Auth). */
export function globusUrnsOf(links: readonly IdentityLink[]): string[] {
  return links.filter((link) => link.issuer === GLOBUS_ISSUER).map((link) => identityUrn(link.subject));
}

export class FederatedIdentity {
  constructor(
    private readonly tokens: TokenStore,
    private readonly oidc: OidcConfig | undefined,
  ) {}

  /**
   * The user an OpenID identity is: its link, or (first sign-in) the name its claims give, claimed.
   * Groups come from the claims when they carry them, else from the latest sign-in.
   */
  async signIn(claims: IdentityClaims, issuer: string): Promise<{ link: IdentityLink; groups: string[] }> {
    const settings = this.oidc;
    if (!settings) throw new HubError('INTERNAL', 'OpenID Connect is not configured');
    const groups = groupsFromClaims(claims, settings.groupsClaim);
    const existing = await this.tokens.findIdentity(issuer, claims.sub);
    if (existing) {
      const changed = groups !== undefined && groups.join('\n') !== existing.groups.join('\n');
      const link = changed ? await this.tokens.linkIdentity({ issuer, subject: claims.sub, user: existing.user, groups, mode: 'link' }) : existing;
      return { link, groups: link.groups };
    }
    const user = userNameFromClaims(claims, settings.userClaim);
    if (!user) {
      throw new HubError('FORBIDDEN', `the identity provider gave no usable ${settings.userClaim} claim to name a hub user by`);
    }
    try {
      const link = await this.tokens.linkIdentity({ issuer, subject: claims.sub, user, groups: groups ?? [], mode: 'claim' });
      return { link, groups: link.groups };
    } catch (error) {
      if (error instanceof HubError && error.code === 'MODELHUB_CONFLICT') {
        throw new HubError('FORBIDDEN', `the user name ${user} already belongs to another identity; an administrator can link yours`);
      }
      throw error;
    }
  }

  /** The viewer of a signed-in OpenID identity. */
  async viewerOfLink(link: IdentityLink, groups: readonly string[]): Promise<Viewer> {
    const links = await this.tokens.identitiesOf(link.user);
    return this.viewerOf(link.user, groups, links);
  }

  /** The viewer of a hub user known by name (an `mh_` token or a web session), with its linked identities. */
  async viewerOfUser(user: string, groups: readonly string[], admin: boolean): Promise<Viewer> {
    const links = await this.tokens.identitiesOf(user);
    const viewer = this.viewerOf(user, groups, links);
    return admin ? { ...viewer, admin: true } : viewer;
  }

  /**
   * The viewer of a Globus token: the hub user one of its identities is linked to, or (unlinked)
   * the Globus identity itself as `urn:globus:auth:identity:<id>`, which servables can be shared with.
   */
  async viewerOfGlobus(caller: GlobusCaller, globusGroups: readonly string[]): Promise<Viewer> {
    for (const id of caller.identitySet) {
      const link = await this.tokens.findIdentity(GLOBUS_ISSUER, id);
      if (!link) continue;
      const links = await this.tokens.identitiesOf(link.user);
      const hubGroups = [...new Set(links.flatMap((l) => l.groups))];
      const viewer = this.viewerOf(link.user, [...hubGroups, ...globusGroups], links);
      return {
        ...viewer,
        globusIdentity: caller.identityId,
        identityUrns: [...new Set([...caller.identitySet.map(identityUrn), ...(viewer.identityUrns ?? [])])],
      };
    }
    return {
      user: identityUrn(caller.identityId),
      groups: [...new Set(globusGroups)].sort(),
      globusIdentity: caller.identityId,
      identityUrns: caller.identitySet.map(identityUrn),
    };
  }

  /** Links every identity of a Globus identity set to a hub user (who proved holding the token). */
  async linkGlobus(user: string, caller: GlobusCaller): Promise<IdentityLink[]> {
    const links: IdentityLink[] = [];
    for (const id of caller.identitySet) links.push(await this.tokens.linkIdentity({ issuer: GLOBUS_ISSUER, subject: id, user, mode: 'link' }));
    return links;
  }

  private viewerOf(user: string, groups: readonly string[], links: readonly IdentityLink[]): Viewer {
    const urns = globusUrnsOf(links);
    const sorted = [...new Set(groups)].sort();
    return {
      user,
      groups: sorted,
      ...(isAdmin(sorted, this.oidc) ? { admin: true } : {}),
      ...(urns.length > 0 ? { globusIdentity: urns[0]!.slice(urns[0]!.lastIndexOf(':') + 1), identityUrns: urns } : {}),
    };
  }
}
