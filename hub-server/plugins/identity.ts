/**
 * Who is calling, and what they did. Every request gets `request.viewer` (and `request.token`)
 * before its handler runs; routes ask `requireReader` / `requireRunner` / `requirePublisher` /
 * `requireAdmin` rather than reading headers themselves. A bad token (unknown, expired, revoked,
 * malformed) is a 401 on every route, also under MODELHUB_AUTH=open, where anonymous callers may
 * publish as the owner they name (a laptop) but a given token is still checked.
 *
 * A bearer token is one of: an `mh_` API token; a JWT access token of the OpenID provider
 * (MODELHUB_OIDC_*); on the Action Provider routes, a Globus Auth token (MODELHUB_GLOBUS_*),
 * introspected. Without a bearer token, a browser's web sign-in cookie identifies it; a change it
 * asks for (any method but GET/HEAD/OPTIONS) must carry the session's CSRF token. Every 401 says
 * why in `WWW-Authenticate`; an identity provider that cannot be reached is a 503, never a pass.
 *
 * The token store and the audit log are the hub's (opened by the composition root); refusals
 * (401/403) are audited as they leave.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError, InvalidTokenError } from '../../schemas/errors.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { TokenInfo, TokenScope, TokenStore } from '../../schemas/ports/token-store.ts';
import type { GlobusAuthClient } from '../adapters/globus-auth-client.ts';
import type { AuditLog, NewAuditEvent } from '../adapters/audit-log.ts';
import { hasScope, viewerOf } from '../use-cases/access.ts';
import type { FederatedIdentity } from '../adapters/federated-identity.ts';
import type { OidcRelyingParty } from '../adapters/oidc-relying-party.ts';
import { CSRF_HEADER, SESSION_COOKIE, SESSION_LABEL, csrfTokenOf, readCookie, sameSecret } from './web-session.ts';

/** How the caller proved who they are; `whoami` reports it. */
export type TokenKind = 'anonymous' | 'api-token' | 'session' | 'oidc' | 'globus' | 'custom';

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
    /** The token the request came with; null when anonymous (or resolved by a custom resolver). */
    token: TokenInfo | null;
  }
  interface FastifyInstance {
    tokens: TokenStore;
    audit: AuditLog;
    /** The OpenID relying party; undefined unless MODELHUB_OIDC_ISSUER is set. */
    oidc: OidcRelyingParty | undefined;
    /** Globus Auth introspection; undefined unless MODELHUB_GLOBUS_CLIENT_ID is set. */
    globusAuth: GlobusAuthClient | undefined;
    federation: FederatedIdentity;
    /** What `whoami` says about the caller of a request. */
    callerOf(request: FastifyRequest): CallerSummary;
    /** Resolve the caller of a request (used by plugins registered outside this one's hooks). */
    identify(request: FastifyRequest): Promise<Viewer>;
    /** identify, then requireRunner: the `identify` to give the Action Provider. */
    identifyRunner(request: FastifyRequest): Promise<Viewer>;
    /**
     * Throws 401/403 unless the caller may publish as (and withdraw, share servables of) `owner`;
     * without `owner`, only whether the caller may publish at all.
     */
    requirePublisher(request: FastifyRequest, owner?: string): void;
    /** Throws 401 unless the caller may read (anonymous reading can be switched off). */
    requireReader(request: FastifyRequest): void;
    /** Throws 401/403 unless the caller may run servables (a token needs the `run` scope). */
    requireRunner(request: FastifyRequest): void;
    /** Throws 401/403 unless the caller holds an `admin` token. */
    requireAdmin(request: FastifyRequest): void;
    /** Append to the audit log as this request's caller; never fails the request. */
    auditEvent(request: FastifyRequest, event: Omit<NewAuditEvent, 'actor' | 'token_id' | 'ip'>): void;
  }
}

/** Resolves a bearer token to a viewer instead of the token store (tests, other identity providers). */
export type TokenResolver = (token: string) => Promise<Viewer | undefined>;

interface Caller {
  viewer: Viewer;
  token: TokenInfo | null;
  /** undefined: anonymous; a custom resolver's callers hold every scope but admin unless it says so. */
  scopes?: readonly TokenScope[];
  kind: TokenKind;
  /** A web session's CSRF token. */
  csrf?: string;
  /** When the credential stops working (ISO date-time), where known. */
  expiresAt?: string;
}

export interface CallerSummary {
  viewer: Viewer;
  kind: TokenKind;
  scopes: readonly TokenScope[];
  csrf?: string;
  expiresAt?: string;
}

/** Scopes of a person signed in through their identity provider: all but admin, unless an admin. */
const FEDERATED_SCOPES: readonly TokenScope[] = ['read', 'run', 'publish'];
/** A Globus token reaches the Action Provider only: it may read and run. */
const GLOBUS_SCOPES: readonly TokenScope[] = ['read', 'run'];
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Three base64url parts: a JWS compact serialization. */
const looksLikeJwt = (value: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);
const isActionRoute = (url: string) => url === '/actions' || url.startsWith('/actions/');
/** Who reaches the sign-in routes with a session checks the form's CSRF field itself. */
const isAuthRoute = (url: string) => url.startsWith('/auth/');

/** RFC 6750 section 3: the challenge of a 401, with the reason where a token was refused. */
function challenge(error: unknown): string {
  const base = 'Bearer realm="modelhub"';
  if (!(error instanceof InvalidTokenError)) return base;
  return `${base}, error="invalid_token", error_description="${error.reason.replace(/["\\]/g, "'")}"`;
}

const callers = new WeakMap<FastifyRequest, Caller>();
const challenges = new WeakMap<FastifyRequest, string>();

const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

async function identity(app: FastifyInstance, opts: { resolveToken?: TokenResolver }): Promise<void> {
  // The stores and identity providers are the hub's (hub-server/composition-root.ts, which opens and closes them).
  const { config, tokens, audit, oidc, globusAuth: globus, federation } = app.hub;
  app.decorate('tokens', tokens);
  app.decorate('audit', audit);
  app.decorate('oidc', oidc);
  app.decorate('globusAuth', globus);
  app.decorate('federation', federation);

  /** An `mh_` token (an API token or a web session's): its user, with their linked identities. */
  const fromToken = async (token: TokenInfo, kind: TokenKind): Promise<Caller> => {
    const plain = viewerOf(token);
    const viewer = await federation.viewerOfUser(token.user, plain.groups ?? [], plain.admin === true);
    return { viewer, token, scopes: token.scopes, kind, ...(token.expires_at ? { expiresAt: token.expires_at } : {}) };
  };

  const fromBearer = async (request: FastifyRequest, secret: string): Promise<Caller> => {
    if (opts.resolveToken) {
      const viewer = await opts.resolveToken(secret);
      if (!viewer) throw new InvalidTokenError('the token is unknown, expired or revoked');
      return { viewer, token: null, scopes: viewer.admin ? ['admin'] : ['read', 'run', 'publish'], kind: 'custom' };
    }
    if (secret.startsWith('mh_')) {
      const token = await tokens.verify(secret);
      if (!token) throw new InvalidTokenError('the token is unknown, expired or revoked');
      return fromToken(token, token.label === SESSION_LABEL ? 'session' : 'api-token');
    }
    if (oidc && looksLikeJwt(secret)) {
      const claims = await oidc.verifyAccessToken(secret);
      const { link, groups } = await federation.signIn(claims, oidc.issuer);
      const viewer = await federation.viewerOfLink(link, groups);
      return {
        viewer,
        token: null,
        scopes: viewer.admin ? [...FEDERATED_SCOPES, 'admin'] : FEDERATED_SCOPES,
        kind: 'oidc',
        ...(typeof claims.exp === 'number' ? { expiresAt: new Date(claims.exp * 1000).toISOString() } : {}),
      };
    }
    // Globus Flows calls an Action Provider with a Globus Auth token for the provider's scope.
    if (globus && isActionRoute(request.url)) {
      const caller = await globus.introspect(secret);
      const viewer = await federation.viewerOfGlobus(caller, await globus.groupUrns(secret));
      return { viewer, token: null, scopes: GLOBUS_SCOPES, kind: 'globus', expiresAt: new Date(caller.expiresAt * 1000).toISOString() };
    }
    throw new InvalidTokenError('the token is unknown, expired or revoked');
  };

  /** A browser's web sign-in; a stale or revoked cookie is simply anonymous (the page offers sign-in again). */
  const fromCookie = async (request: FastifyRequest): Promise<Caller> => {
    const secret = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (!secret) return { viewer: {}, token: null, kind: 'anonymous' };
    const token = await tokens.verify(secret);
    if (!token || token.label !== SESSION_LABEL) return { viewer: {}, token: null, kind: 'anonymous' };
    const csrf = csrfTokenOf(secret);
    // A cookie rides along on requests other sites make the browser send: a change needs proof
    // that the hub's own page asked for it.
    if (!SAFE_METHODS.has(request.method) && !isAuthRoute(request.url) && !sameSecret(headerValue(request.headers[CSRF_HEADER]), csrf)) {
      throw new HubError('FORBIDDEN', `a change from a signed-in browser needs the ${CSRF_HEADER} header (GET /api/v1/whoami gives it)`);
    }
    return { ...(await fromToken(token, 'session')), csrf };
  };

  const resolve = async (request: FastifyRequest): Promise<Caller> => {
    const known = callers.get(request);
    if (known) return known;
    const header = request.headers.authorization;
    let caller: Caller;
    try {
      if (!header) {
        caller = await fromCookie(request);
      } else {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        if (!match) throw new InvalidTokenError('the Authorization header must be "Bearer <token>"');
        caller = await fromBearer(request, match[1]!);
      }
    } catch (error) {
      if (error instanceof HubError && error.status === 401) challenges.set(request, challenge(error));
      throw error;
    }
    callers.set(request, caller);
    return caller;
  };
  const callerOf = (request: FastifyRequest): Caller => callers.get(request) ?? { viewer: {}, token: null, kind: 'anonymous' };
  app.decorate('callerOf', (request: FastifyRequest): CallerSummary => {
    const caller = callerOf(request);
    return {
      viewer: caller.viewer,
      kind: caller.kind,
      scopes: caller.scopes ?? [],
      ...(caller.csrf ? { csrf: caller.csrf } : {}),
      ...(caller.expiresAt ? { expiresAt: caller.expiresAt } : {}),
    };
  });
  // Every 401 carries a challenge (RFC 7235), also those a route throws for a missing token.
  app.addHook('onSend', async (request, reply) => {
    if (reply.statusCode === 401 && !reply.hasHeader('www-authenticate')) {
      reply.header('www-authenticate', challenges.get(request) ?? 'Bearer realm="modelhub"');
    }
  });

  app.decorateRequest('viewer', null as unknown as Viewer);
  app.decorateRequest('token', null);
  app.decorate('identify', async (request: FastifyRequest) => (await resolve(request)).viewer);
  app.addHook('onRequest', async (request) => {
    const caller = await resolve(request);
    request.viewer = caller.viewer;
    request.token = caller.token;
  });

  const requireScope = (request: FastifyRequest, scope: TokenScope, what: string) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined) throw new HubError('UNAUTHENTICATED', `${what} needs a token with the ${scope} scope`);
    if (!hasScope(caller.scopes, scope)) throw new HubError('FORBIDDEN', `this token does not have the ${scope} scope (${what})`);
  };

  app.decorate('requireReader', (request: FastifyRequest) => {
    if (!config.anonymousRead && callerOf(request).scopes === undefined) {
      throw new HubError('UNAUTHENTICATED', 'this hub does not allow anonymous reading');
    }
  });
  app.decorate('requireRunner', (request: FastifyRequest) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined) {
      if (!config.anonymousRead) throw new HubError('UNAUTHENTICATED', 'this hub does not allow anonymous runs');
      return;
    }
    requireScope(request, 'run', 'running a servable');
  });
  app.decorate('requirePublisher', (request: FastifyRequest, owner?: string) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined && config.auth === 'open') return;
    requireScope(request, 'publish', 'publishing, withdrawing or sharing');
    if (owner !== undefined && !caller.viewer.admin && caller.viewer.user !== owner) {
      throw new HubError('FORBIDDEN', `${caller.viewer.user} may not publish or change servables of ${owner}`);
    }
  });
  app.decorate('requireAdmin', (request: FastifyRequest) => requireScope(request, 'admin', 'the admin API'));
  app.decorate('identifyRunner', async (request: FastifyRequest) => {
    const viewer = (await resolve(request)).viewer;
    app.requireRunner(request);
    return viewer;
  });

  app.decorate('auditEvent', (request: FastifyRequest, event: Omit<NewAuditEvent, 'actor' | 'token_id' | 'ip'>) => {
    const caller = callers.get(request);
    try {
      audit.record({
        ...event,
        actor: caller?.viewer.user ?? 'anonymous',
        ...(caller?.token ? { token_id: caller.token.id } : {}),
        ip: request.ip,
      });
    } catch (error) {
      request.log.error({ err: error, event }, 'could not write the audit log');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 && reply.statusCode !== 403) return;
    const presented = /^Bearer\s+(\S{1,9})/i.exec(request.headers.authorization ?? '')?.[1];
    app.auditEvent(request, {
      action: 'denied',
      target: `${request.method} ${request.url.split('?')[0]}`,
      status: reply.statusCode,
      ...(presented && !callers.has(request) ? { detail: { presented } } : {}),
    });
  });
}

export default fp(identity, { name: 'identity', dependencies: ['hub-services'], fastify: '5.x' });
