/**
 * Globus Auth as the Action Provider's token checker (docs.globus.org, Auth API reference 3.9 and
 * 3.10, Groups API `GET /v2/groups/my_groups`): a bearer token from Globus Flows is introspected
 * with the hub's client credentials (RFC 7662, `include=identity_set`) and accepted only when it
 * is active, carries the provider's scope, names this client in `aud`, and is within `nbf`..`exp`.
 * Group memberships come from the Groups API with a dependent token. Both are cached: an
 * introspection until the token expires, memberships for a few minutes (they change more often).
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { HubError, InvalidTokenError } from '../../schemas/errors.ts';

/** Its settings, read by hub-server/config.ts (MODELHUB_GLOBUS_*). */
export interface GlobusConfig {
  clientId: string;
  clientSecret: string;
  /** Globus Auth; the hub calls `<authUrl>/v2/oauth2/token/introspect`. */
  authUrl: string;
  /** The Groups API; the hub calls `<groupsUrl>/v2/groups/my_groups`. */
  groupsUrl: string;
  /** The Action Provider's scope string, published as `globus_auth_scope`. */
  scope: string;
}

export const GLOBUS_ISSUER = 'https://auth.globus.org';
export const GLOBUS_IDENTITY_URN = 'urn:globus:auth:identity:';
export const GLOBUS_GROUP_URN = 'urn:globus:groups:id:';
const DEPENDENT_TOKEN_GRANT = 'urn:globus:auth:grant_type:dependent_token';
const GROUPS_RESOURCE_SERVER = 'groups.api.globus.org';
const GROUPS_TTL_MS = 5 * 60_000;
const CLOCK_SKEW_SECONDS = 60;
const REQUEST_TIMEOUT_MS = 10_000;

/** Who a valid Globus token speaks for. */
export interface GlobusCaller {
  /** The identity that authenticated (`sub`). */
  identityId: string;
  /** Every identity linked to it in Globus Auth (`identity_set`), `sub` first. */
  identitySet: string[];
  username?: string;
  name?: string;
  email?: string;
  /** The client the token was issued to (Globus Flows, for a flow run). */
  clientId?: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The fields of Globus Auth's introspection response this hub reads. */
interface IntrospectionResponse {
  active: boolean;
  scope?: string;
  client_id?: string;
  sub?: string;
  username?: string;
  name?: string;
  email?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  identity_set?: string[];
}

interface DependentToken {
  access_token: string;
  resource_server: string;
  scope: string;
  expires_in: number;
  token_type: string;
}

interface GlobusGroup {
  id: string;
  name?: string;
  my_memberships?: { group_id: string; identity_id: string; role: string; status: string }[];
}

const cacheKey = (token: string) => createHash('sha256').update(token).digest('base64url');
export const identityUrn = (id: string) => `${GLOBUS_IDENTITY_URN}${id.toLowerCase()}`;
export const groupUrn = (id: string) => `${GLOBUS_GROUP_URN}${id.toLowerCase()}`;

export class GlobusAuthClient {
  private readonly introspections = new LRUCache<string, GlobusCaller>({ max: 10_000 });
  private readonly groups = new LRUCache<string, string[]>({ max: 10_000, ttl: GROUPS_TTL_MS });

  constructor(
    readonly settings: GlobusConfig,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** The caller a token speaks for; InvalidTokenError (401) or BACKEND_UNAVAILABLE (503). */
  async introspect(token: string): Promise<GlobusCaller> {
    const key = cacheKey(token);
    const cached = this.introspections.get(key);
    if (cached && cached.expiresAt > Date.now() / 1000) return cached;
    const document = (await this.post('/v2/oauth2/token/introspect', { token, include: 'identity_set' }, 'token introspection')) as IntrospectionResponse;
    const caller = this.check(document);
    // Cached until the token expires, as Globus Auth's guidance for resource servers allows.
    this.introspections.set(key, caller, { ttl: Math.max(1, caller.expiresAt * 1000 - Date.now()) });
    return caller;
  }

  /** The caller's Globus groups as `urn:globus:groups:id:<uuid>`, via a dependent token. */
  async groupUrns(token: string): Promise<string[]> {
    const key = cacheKey(token);
    const cached = this.groups.get(key);
    if (cached) return cached;
    const tokens = await this.post('/v2/oauth2/token', { grant_type: DEPENDENT_TOKEN_GRANT, token }, 'the dependent token grant', true);
    const groupsToken = Array.isArray(tokens)
      ? (tokens as DependentToken[]).find((t) => t.resource_server === GROUPS_RESOURCE_SERVER)?.access_token
      : undefined;
    // A provider scope without the Groups scope as a dependency gets no groups token: no groups.
    let urns: string[] = [];
    if (groupsToken) {
      const listed = await this.call(`${this.settings.groupsUrl}/v2/groups/my_groups`, { headers: { authorization: `Bearer ${groupsToken}` } }, 'the Groups API');
      if (!Array.isArray(listed)) throw new HubError('BACKEND_UNAVAILABLE', 'the Groups API answered something other than a list of groups');
      urns = (listed as GlobusGroup[])
        // Only active memberships count: an invited or pending member is not yet a member.
        .filter((group) => (group.my_memberships ?? []).some((membership) => membership.status === 'active'))
        .map((group) => groupUrn(group.id));
    }
    this.groups.set(key, urns);
    return urns;
  }

  private check(document: IntrospectionResponse): GlobusCaller {
    if (document.active !== true) throw new InvalidTokenError('the Globus token is not active (expired, revoked or unknown)');
    const now = Date.now() / 1000;
    if (typeof document.exp !== 'number' || document.exp + CLOCK_SKEW_SECONDS <= now) throw new InvalidTokenError('the Globus token expired');
    if (typeof document.nbf === 'number' && document.nbf - CLOCK_SKEW_SECONDS > now) throw new InvalidTokenError('the Globus token is not valid yet');
    const scopes = (document.scope ?? '').split(/\s+/);
    if (!scopes.includes(this.settings.scope)) throw new InvalidTokenError(`the Globus token does not carry this provider's scope ${this.settings.scope}`);
    const audiences = Array.isArray(document.aud) ? document.aud : document.aud === undefined ? [] : [document.aud];
    if (!audiences.includes(this.settings.clientId)) throw new InvalidTokenError('the Globus token is for another audience');
    if (typeof document.sub !== 'string' || document.sub === '') throw new InvalidTokenError('the Globus token names no identity');
    const identityId = document.sub.toLowerCase();
    return {
      identityId,
      identitySet: [...new Set([identityId, ...(document.identity_set ?? []).map((id) => id.toLowerCase())])],
      ...(document.username ? { username: document.username } : {}),
      ...(document.name ? { name: document.name } : {}),
      ...(document.email ? { email: document.email } : {}),
      ...(document.client_id ? { clientId: document.client_id } : {}),
      expiresAt: document.exp,
    };
  }

  /** A form POST to Globus Auth with the client's credentials (HTTP Basic, as the reference says). */
  private post(path: string, form: Record<string, string>, what: string, toleratesRefusal = false): Promise<unknown> {
    const basic = Buffer.from(`${encodeURIComponent(this.settings.clientId)}:${encodeURIComponent(this.settings.clientSecret)}`).toString('base64');
    return this.call(
      `${this.settings.authUrl}${path}`,
      {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(form).toString(),
      },
      what,
      toleratesRefusal,
    );
  }

  private async call(url: string, init: RequestInit, what: string, toleratesRefusal = false): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetchImpl(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      throw new HubError('BACKEND_UNAVAILABLE', `Globus cannot be reached for ${what} (${(error as Error).message})`, { cause: error, retryAfter: 5 });
    }
    const text = await response.text();
    if (response.status === 401 && what === 'token introspection') {
      // Globus Auth refusing the hub's own credentials is the operator's problem, not the caller's.
      throw new HubError('BACKEND_UNAVAILABLE', 'Globus Auth refused this hub\'s client credentials (MODELHUB_GLOBUS_CLIENT_ID / _SECRET)');
    }
    if (response.status >= 400 && response.status < 500 && toleratesRefusal) return [];
    if (!response.ok) throw new HubError('BACKEND_UNAVAILABLE', `${what} answered ${response.status}: ${text.slice(0, 200)}`, { retryAfter: 5 });
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new HubError('BACKEND_UNAVAILABLE', `${what} answered something other than JSON`);
    }
  }
}
