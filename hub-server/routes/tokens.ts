/**
 * API tokens (`/api/v1/tokens`) and the audit log (`/api/v1/audit`). An admin token may make and
 * revoke tokens for anyone; any other token may make tokens for its own user with no more than its
 * own scopes, groups and lifetime, list its user's tokens and revoke them. Secrets appear once, in
 * the reply that creates them. The first admin token of a hub comes from the CLI acting on the
 * data folder (`modelhub token create --user admin --admin`).
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { GROUP_PATTERN, TokenInfo, TokenScope, USER_PATTERN, type NewToken } from '../../schemas/ports/token-store.ts';
import { AUDIT_ACTIONS, AuditEvent } from '../adapters/audit-log.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export const CreateTokenRequest = Type.Object(
  {
    user: Type.Optional(Type.String({ pattern: USER_PATTERN, description: 'default: the caller' })),
    groups: Type.Optional(Type.Array(Type.String({ pattern: GROUP_PATTERN }), { maxItems: 100 })),
    scopes: Type.Optional(Type.Array(TokenScope, { minItems: 1, description: 'default: read, run, publish' })),
    label: Type.Optional(Type.String({ maxLength: 200 })),
    expires_at: Type.Optional(Type.String({ format: 'date-time' })),
    expires_in_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 36500 })),
  },
  { additionalProperties: false },
);
export type CreateTokenRequest = Static<typeof CreateTokenRequest>;

export const CreatedTokenReply = Type.Composite([TokenInfo, Type.Object({ token: Type.String({ description: 'the secret: shown only now' }) })]);

const DEFAULT_SCOPES: TokenScope[] = ['read', 'run', 'publish'];
const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument };

/** The expiry asked for, as an ISO date-time in the future (or undefined: never). */
export function expiryOf(request: Pick<CreateTokenRequest, 'expires_at' | 'expires_in_days'>, now = Date.now()): string | undefined {
  if (request.expires_at !== undefined && request.expires_in_days !== undefined) {
    throw new HubError('BAD_REQUEST', 'give expires_at or expires_in_days, not both');
  }
  if (request.expires_in_days !== undefined) return new Date(now + request.expires_in_days * 86_400_000).toISOString();
  if (request.expires_at === undefined) return undefined;
  const at = Date.parse(request.expires_at);
  if (!Number.isFinite(at) || at <= now) throw new HubError('BAD_REQUEST', `expires_at ${request.expires_at} is not in the future`);
  return new Date(at).toISOString();
}

export default async function tokenRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/tokens', {
    schema: {
      summary: 'Create an API token (the secret is in this reply only)',
      tags: ['tokens'],
      body: CreateTokenRequest,
      response: { 201: CreatedTokenReply, ...errors },
    },
    handler: async (request, reply) => {
      const caller = request.token;
      const viewer = request.viewer;
      if (viewer.user === undefined) throw new HubError('UNAUTHENTICATED', 'creating tokens needs a token');
      const body = request.body;
      const wanted: NewToken = {
        user: body.user ?? viewer.user!,
        groups: body.groups ?? (body.user === undefined || body.user === viewer.user ? viewer.groups ?? [] : []),
        scopes: body.scopes ?? DEFAULT_SCOPES,
        ...(body.label !== undefined ? { label: body.label } : {}),
        expires_at: expiryOf(body),
        created_by: viewer.user,
      };
      if (!viewer.admin) {
        // A token can hand on no more than it holds: its user, groups, scopes and lifetime.
        if (wanted.user !== viewer.user) throw new HubError('FORBIDDEN', `only an admin may create tokens for ${wanted.user}`);
        const extraGroups = (wanted.groups ?? []).filter((g) => !(viewer.groups ?? []).includes(g));
        if (extraGroups.length > 0) throw new HubError('FORBIDDEN', `not a member of ${extraGroups.join(', ')}`);
        const held = caller?.scopes ?? [];
        const extraScopes = wanted.scopes.filter((s) => s !== 'read' && !held.includes(s));
        if (extraScopes.length > 0) throw new HubError('FORBIDDEN', `this token does not hold the scope(s) ${extraScopes.join(', ')}`);
        if (caller?.expires_at && (!wanted.expires_at || wanted.expires_at > caller.expires_at)) wanted.expires_at = caller.expires_at;
      }
      const created = await app.tokens.create(wanted);
      app.auditEvent(request, {
        action: 'token.create',
        target: created.info.id,
        detail: { user: created.info.user, groups: created.info.groups, scopes: created.info.scopes, expires_at: created.info.expires_at },
      });
      return reply.code(201).send({ ...created.info, token: created.token });
    },
  });

  app.get('/tokens', {
    schema: {
      summary: 'List tokens (never their secrets): all for an admin, your own otherwise',
      tags: ['tokens'],
      querystring: Type.Object({ user: Type.Optional(Type.String({ pattern: USER_PATTERN })) }),
      response: { 200: Type.Object({ tokens: Type.Array(TokenInfo) }), ...errors },
    },
    handler: async (request) => {
      const viewer = request.viewer;
      if (viewer.user === undefined) throw new HubError('UNAUTHENTICATED', 'listing tokens needs a token');
      const { user } = request.query;
      if (!viewer.admin && user !== undefined && user !== viewer.user) throw new HubError('FORBIDDEN', `only an admin may list the tokens of ${user}`);
      return { tokens: await app.tokens.list({ user: viewer.admin ? user : viewer.user }) };
    },
  });

  app.delete('/tokens/:id', {
    schema: {
      summary: 'Revoke a token',
      tags: ['tokens'],
      params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
      response: { 200: TokenInfo, ...errors },
    },
    handler: async (request) => {
      const viewer = request.viewer;
      if (viewer.user === undefined) throw new HubError('UNAUTHENTICATED', 'revoking tokens needs a token');
      const { id } = request.params;
      const token = await app.tokens.get(id);
      // Someone else's token is reported as unknown: ids are not to be probed.
      if (!token || (!viewer.admin && token.user !== viewer.user)) throw new HubError('TOKEN_NOT_FOUND', id);
      const revoked = (await app.tokens.revoke(id))!;
      if (!token.revoked_at) app.auditEvent(request, { action: 'token.revoke', target: id, detail: { user: token.user } });
      return revoked;
    },
  });

  app.get('/audit', {
    schema: {
      summary: 'The audit log, newest first (admins only)',
      tags: ['tokens'],
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        before: Type.Optional(Type.Integer({ minimum: 1, description: 'events older than this seq' })),
        action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
        actor: Type.Optional(Type.String({ maxLength: 100 })),
      }),
      response: { 200: Type.Object({ events: Type.Array(AuditEvent) }), ...errors },
    },
    handler: async (request) => {
      app.requireAdmin(request);
      return { events: await app.audit.list(request.query) };
    },
  });
}
