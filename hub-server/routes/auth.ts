/**
 * Signing in. `signInRoutes` (no prefix) serve the browser: `/auth/login` sends it to the OpenID
 * provider (authorization code + PKCE), `/auth/callback` turns the answer into a web session
 * cookie, `POST /auth/logout` (a form with the session's CSRF token) ends it. `authApiRoutes`
 * (under /api/v1) serve programs: `whoami`, the device authorization grant and refresh that
 * `modelhub login` uses through the hub, and linking a Globus identity to the caller's user.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import type { OidcRelyingParty } from '../adapters/oidc-relying-party.ts';
import {
  CSRF_FIELD,
  SESSION_COOKIE,
  SESSION_LABEL,
  SIGN_IN_COOKIE,
  SignInCookie,
  clearCookieHeader,
  cookieHeader,
  csrfTokenOf,
  readCookie,
  safeReturnPath,
  sameSecret,
} from '../plugins/web-session.ts';
import { GLOBUS_ISSUER } from '../adapters/globus-auth-client.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 503: ErrorDocument };

export const WhoAmI = Type.Object(
  {
    user: Type.Union([Type.String(), Type.Null()], { description: 'null: anonymous' }),
    groups: Type.Array(Type.String()),
    admin: Type.Boolean(),
    identities: Type.Array(Type.String(), { description: 'identity URNs: urn:modelhub:user:<name>, urn:globus:auth:identity:<uuid>' }),
    token_kind: Type.Union(['anonymous', 'api-token', 'session', 'oidc', 'globus', 'custom'].map((k) => Type.Literal(k))),
    scopes: Type.Array(Type.String()),
    expires_at: Type.Optional(Type.String()),
    csrf_token: Type.Optional(Type.String({ description: "a web session's: send it as X-CSRF-Token with every change" })),
    sign_in: Type.Object({
      oidc: Type.Boolean({ description: 'whether this hub offers sign-in with an OpenID provider' }),
      url: Type.Optional(Type.String()),
    }),
  },
  { $id: 'WhoAmI' },
);
export type WhoAmI = Static<typeof WhoAmI>;

export const DeviceAuthorization = Type.Object({
  device_code: Type.String(),
  user_code: Type.String(),
  verification_uri: Type.String(),
  verification_uri_complete: Type.Optional(Type.String()),
  expires_in: Type.Number(),
  interval: Type.Number(),
});

export const TokenRequest = Type.Union([
  Type.Object({ grant_type: Type.Literal('device_code'), device_code: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
  Type.Object({ grant_type: Type.Literal('refresh_token'), refresh_token: Type.String({ minLength: 1, maxLength: 16384 }) }, { additionalProperties: false }),
]);

export const TokenReply = Type.Object({
  access_token: Type.String(),
  token_type: Type.String(),
  expires_in: Type.Optional(Type.Number()),
  refresh_token: Type.Optional(Type.String()),
  user: Type.Optional(Type.String()),
});

const LinkGlobusRequest = Type.Object(
  { globus_token: Type.String({ minLength: 1, maxLength: 16384, description: "a Globus Auth access token for this provider's scope" }) },
  { additionalProperties: false },
);

function requireOidc(app: FastifyInstance): OidcRelyingParty {
  if (!app.oidc) throw new HubError('ROUTE_NOT_FOUND', 'this hub has no OpenID provider configured (MODELHUB_OIDC_ISSUER)');
  return app.oidc;
}

const secureCookies = (app: FastifyInstance) => app.hub.config.publicUrl.startsWith('https:');

export async function authApiRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox).
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/whoami', {
    schema: { summary: "The caller: user, groups, identity URNs and how they signed in", tags: ['auth'], response: { 200: WhoAmI, ...errors } },
    handler: async (request): Promise<WhoAmI> => {
      const caller = app.callerOf(request);
      const viewer = caller.viewer;
      const user = viewer.user ?? null;
      const identities = [
        ...(user === null || user.startsWith('urn:') ? [] : [`urn:modelhub:user:${user}`]),
        ...(viewer.identityUrns ?? []),
      ];
      return {
        user,
        groups: viewer.groups ?? [],
        admin: viewer.admin === true,
        identities: [...new Set(identities)],
        token_kind: caller.kind,
        scopes: [...caller.scopes],
        ...(caller.expiresAt ? { expires_at: caller.expiresAt } : {}),
        ...(caller.csrf ? { csrf_token: caller.csrf } : {}),
        sign_in: { oidc: app.oidc !== undefined, ...(app.oidc ? { url: '/auth/login' } : {}) },
      };
    },
  });

  app.post('/auth/device', {
    schema: { summary: 'Start a device sign-in (RFC 8628) with the OpenID provider, for the CLI', tags: ['auth'], response: { 200: DeviceAuthorization, ...errors } },
    handler: async () => requireOidc(app).startDevice(),
  });

  app.post('/auth/token', {
    schema: {
      summary: 'Finish a device sign-in (one poll) or refresh: the provider\'s access token for this hub',
      description: 'A device sign-in not yet approved answers 400 with details.oauth_error "authorization_pending" (or "slow_down"): poll again after the interval.',
      tags: ['auth'],
      body: TokenRequest,
      response: { 200: TokenReply, ...errors },
    },
    handler: async (request) => {
      const oidc = requireOidc(app);
      const body = request.body;
      if (body.grant_type === 'refresh_token') return oidc.refresh(body.refresh_token);
      const { claims, tokens } = await oidc.pollDevice(body.device_code);
      // The first sign-in creates the user, here as in the browser.
      const { link } = await app.federation.signIn(claims, oidc.issuer);
      app.auditEvent(request, { action: 'sign-in', target: link.user, detail: { via: 'device', issuer: oidc.issuer } });
      return { ...tokens, user: link.user };
    },
  });

  app.post('/whoami/identities', {
    schema: {
      summary: "Link the Globus identities of a Globus token to the caller's user",
      tags: ['auth'],
      body: LinkGlobusRequest,
      response: { 200: WhoAmI, ...errors },
    },
    handler: async (request, reply) => {
      const globus = app.globusAuth;
      if (!globus) throw new HubError('ROUTE_NOT_FOUND', 'this hub has no Globus Auth configured (MODELHUB_GLOBUS_CLIENT_ID)');
      const caller = app.callerOf(request);
      const user = caller.viewer.user;
      if (user === undefined || caller.kind === 'anonymous') throw new HubError('UNAUTHENTICATED', 'linking an identity needs you signed in');
      if (caller.kind === 'globus' || user.startsWith('urn:')) throw new HubError('FORBIDDEN', 'sign in to the hub (not with a Globus token) to link identities');
      const { globus_token } = request.body;
      // Holding an active token for this provider proves the identities are the caller's.
      const identity = await globus.introspect(globus_token);
      const links = await app.federation.linkGlobus(user, identity);
      app.auditEvent(request, { action: 'identity.link', target: user, detail: { issuer: GLOBUS_ISSUER, identities: links.map((l) => l.subject) } });
      return reply.redirect('/api/v1/whoami', 303);
    },
  });
}

/** A small page for a sign-in that could not finish: what happened, and a way back. */
function signInFailure(reply: FastifyReply, error: HubError): FastifyReply {
  const message = error.message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return reply
    .code(error.status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed — modelhub</title>` +
        `<link rel="stylesheet" href="/assets/styles.css"></head><body><main id="main"><h1>Sign-in failed</h1>` +
        `<p role="alert"><strong>${error.code}</strong>: ${message}</p><p><a href="/auth/login">Try again</a> · <a href="/">Back to the catalogue</a></p></main></body></html>`,
    );
}

export async function signInRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox).
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const config = app.hub.config;
  const sealer = config.oidc ? new SignInCookie(config.oidc.clientSecret) : undefined;

  // The sign-out form posts application/x-www-form-urlencoded; only these routes take it.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const page = { tags: ['auth'], hide: true };

  app.get('/auth/login', {
    schema: { ...page, querystring: Type.Object({ return_to: Type.Optional(Type.String({ maxLength: 2000 })) }) },
    handler: async (request, reply) => {
      try {
        const oidc = requireOidc(app);
        const start = await oidc.startSignIn();
        const { return_to } = request.query;
        const sealed = sealer!.seal({ state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier, returnTo: safeReturnPath(return_to) });
        reply.header('set-cookie', cookieHeader(SIGN_IN_COOKIE, sealed, { maxAgeSeconds: sealer!.maxAgeSeconds, secure: secureCookies(app), path: '/auth/' }));
        return reply.header('cache-control', 'no-store').redirect(start.url, 302);
      } catch (error) {
        if (error instanceof HubError) return signInFailure(reply, error);
        throw error;
      }
    },
  });

  app.get('/auth/callback', {
    schema: { ...page, querystring: Type.Object({}, { additionalProperties: Type.String({ maxLength: 4096 }) }) },
    handler: async (request, reply) => {
      const secure = secureCookies(app);
      reply.header('cache-control', 'no-store');
      try {
        const oidc = requireOidc(app);
        const pending = sealer!.open(readCookie(request.headers.cookie, SIGN_IN_COOKIE));
        if (!pending) throw new HubError('BAD_REQUEST', 'this sign-in was not started here, or took longer than 10 minutes');
        const callbackUrl = new URL(request.url, config.publicUrl);
        const { claims } = await oidc.finishSignIn(callbackUrl, pending);
        const { link, groups } = await app.federation.signIn(claims, oidc.issuer);
        const viewer = await app.federation.viewerOfLink(link, groups);
        const session = await app.tokens.create({
          user: link.user,
          groups,
          scopes: viewer.admin ? ['read', 'run', 'publish', 'admin'] : ['read', 'run', 'publish'],
          label: SESSION_LABEL,
          expires_at: new Date(Date.now() + config.oidc!.sessionSeconds * 1000).toISOString(),
          created_by: 'oidc',
        });
        app.auditEvent(request, { action: 'sign-in', target: link.user, detail: { via: 'web', issuer: oidc.issuer, session: session.info.id } });
        reply.header('set-cookie', [
          cookieHeader(SESSION_COOKIE, session.token, { maxAgeSeconds: config.oidc!.sessionSeconds, secure }),
          clearCookieHeader(SIGN_IN_COOKIE, secure, '/auth/'),
        ]);
        return reply.redirect(pending.returnTo, 303);
      } catch (error) {
        if (error instanceof HubError) {
          reply.header('set-cookie', clearCookieHeader(SIGN_IN_COOKIE, secure, '/auth/'));
          return signInFailure(reply, error);
        }
        throw error;
      }
    },
  });

  app.post('/auth/logout', {
    // No body schema: a post without the form (a forged one) must reach the CSRF check and get its 403.
    schema: page,
    handler: async (request: FastifyRequest, reply) => {
      const secret = readCookie(request.headers.cookie, SESSION_COOKIE);
      const secure = secureCookies(app);
      if (secret) {
        const form = request.body;
        const field = typeof form === 'object' && form !== null ? (form as Record<string, unknown>)[CSRF_FIELD] : undefined;
        // Only the hub's own page knows the token: another site cannot sign a visitor out (or in as someone else).
        if (typeof field !== 'string' || !sameSecret(field, csrfTokenOf(secret))) throw new HubError('FORBIDDEN', `signing out needs the form's ${CSRF_FIELD}`);
        const session = await app.tokens.verify(secret);
        if (session && session.label === SESSION_LABEL) {
          await app.tokens.revoke(session.id);
          app.auditEvent(request, { action: 'sign-out', target: session.user, detail: { session: session.id } });
        }
      }
      reply.header('set-cookie', clearCookieHeader(SESSION_COOKIE, secure));
      // The hub's session ends here; the provider's own session is the provider's (docs/access.md).
      return reply.redirect('/', 303);
    },
  });
}
