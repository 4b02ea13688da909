/**
 * Resolving persistent identifiers (`/api/v1/identifiers/{identifier}`) to the version they name,
 * or to a tombstone that says when and why it was withdrawn.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { visibleVersions } from '../use-cases/access.ts';
import { landingPath } from '../../schemas/ports/identifier-minter.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

const Resolution = Type.Object({
  identifier: Type.String(),
  servable: Type.String(),
  version: Type.Optional(Type.Integer()),
  state: Type.String({ description: 'local, draft, findable, registered, or pending (a remote agency has yet to take it; retried)' }),
  last_error: Type.Optional(Type.String({ description: 'why the last registration attempt failed, while pending' })),
  withdrawn: Type.Boolean(),
  withdrawn_at: Type.Optional(Type.String()),
  withdrawn_reason: Type.Optional(Type.String()),
  url: Type.String(),
  landing_url: Type.String({ description: 'the landing page: HTML for browsers, JSON for clients' }),
  title: Type.Optional(Type.String()),
  versions: Type.Optional(Type.Array(Type.Integer())),
});

/** The identifier a `/…/*` route names, percent-decoded; a malformed encoding is the caller's 400. */
export function identifierFromPath(request: { params: { '*': string } }): string {
  try {
    return decodeURIComponent(request.params['*']);
  } catch {
    throw new HubError('BAD_REQUEST', 'the identifier is not validly URL-encoded');
  }
}

export default async function identifierRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, config } = app.hub;
  app.get('/identifiers/*', {
    schema: {
      summary: 'Resolve an identifier (URL-encoded)',
      tags: ['identifiers'],
      params: Type.Object({ '*': Type.String({ minLength: 1, maxLength: 500 }) }),
      response: { 200: Resolution, 401: ErrorDocument, 404: ErrorDocument },
    },
    handler: async (request) => {
      app.requireReader(request);
      const identifier = identifierFromPath(request);
      const record = await registry.getIdentifier(identifier);
      if (!record) throw new HubError('IDENTIFIER_NOT_FOUND', identifier);
      // Only versions this caller may see: a concept identifier resolves to the latest of those,
      // and a pending (never published) version or a hidden one resolves as unknown.
      const versions = visibleVersions(await registry.listVersions(record.owner, record.name), request.viewer);
      const target = record.version === undefined ? versions.find((v) => v.state === 'published') ?? versions[0] : versions.find((v) => v.version === record.version);
      if (!target?.document) throw new HubError('IDENTIFIER_NOT_FOUND', identifier);
      const withdrawn = target.state === 'withdrawn';
      const base = `${config.publicUrl}/api/v1/servables/${record.owner}/${record.name}`;
      return {
        identifier,
        servable: `${record.owner}/${record.name}`,
        version: record.version,
        state: withdrawn ? 'withdrawn' : record.state,
        ...(record.last_error ? { last_error: record.last_error } : {}),
        withdrawn,
        withdrawn_at: target.withdrawn_at,
        withdrawn_reason: target.withdrawn_reason,
        url: record.version === undefined ? base : `${base}/versions/${record.version}`,
        landing_url: `${config.publicUrl}${landingPath(identifier)}`,
        title: target.document.datacite.titles[0]?.title,
        versions: record.version === undefined ? versions.filter((v) => v.state === 'published').map((v) => v.version) : undefined,
      };
    },
  });
}
