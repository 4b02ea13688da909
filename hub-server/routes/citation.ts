/**
 * How to cite a servable version (`/api/v1/servables/{owner}/{name}[/versions/{v}]/citation`), in
 * the format asked for by `?format=` or, failing that, by the Accept header.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type { IdentifierRecord } from '../../schemas/ports/registry.ts';
import { canView } from '../use-cases/access.ts';
import { CITATION_FORMATS, CITATION_MEDIA_TYPES, formatCitation, negotiateCitationFormat } from '../use-cases/citation-formats.ts';
import { landingPath } from '../../schemas/ports/identifier-minter.ts';
import { loadCitationSubject, type SubjectContext } from '../use-cases/identifiers.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export function subjectContext(app: FastifyInstance): SubjectContext {
  const { registry, minter, config, collections } = app.hub;
  return { registry, minter, landingUrl: (identifier) => `${config.publicUrl}${landingPath(identifier)}`, partOf: collections.partOf };
}

/** The registry's record of a version's identifier (versions published before records existed get one made up). */
export async function versionIdentifierRecord(app: FastifyInstance, document: PublishedMetadata): Promise<IdentifierRecord> {
  const { owner, name, version, identifier, publication_date } = document.hub;
  return (await app.hub.registry.getIdentifier(identifier)) ?? { identifier, owner, name, version, state: 'local', created_at: publication_date };
}

const CitationQuery = Type.Object({
  format: Type.Optional(Type.Union(CITATION_FORMATS.map((f) => Type.Literal(f)), { description: 'overrides the Accept header' })),
});

export default async function citationRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { gateway } = app.hub;
  const produces = [...Object.values(CITATION_MEDIA_TYPES)];

  const cite = async (request: FastifyRequest<{ Params: OwnerNameMaybeVersion; Querystring: Static<typeof CitationQuery> }>, reply: import('fastify').FastifyReply) => {
    app.requireReader(request);
    const { owner, name, version } = request.params;
    const format = negotiateCitationFormat(request.query.format, request.headers.accept);
    // Unknown, private-to-someone-else and withdrawn versions answer as describe does.
    const document = await gateway.describe({ owner, name, ...(version === undefined ? {} : { version }) }, request.viewer);
    const record = await versionIdentifierRecord(app, document);
    const loaded = await loadCitationSubject(subjectContext(app), record, (d) => canView(d, request.viewer));
    if (!loaded) throw new HubError('SERVABLE_NOT_FOUND', `${owner}/${name}`);
    const { body, contentType } = formatCitation(loaded.subject, format);
    return reply.header('vary', 'accept').type(contentType).send(body);
  };

  const schema = (summary: string, params: typeof OwnerNameParams | typeof OwnerNameVersionParams) => ({
    summary,
    description: `Formats: ${CITATION_FORMATS.map((f) => `${f} (${CITATION_MEDIA_TYPES[f]})`).join(', ')}. \`?format=\` wins over Accept; neither means BibTeX; 406 when Accept allows none.`,
    tags: ['citation'],
    params,
    querystring: CitationQuery,
    produces,
    response: { 400: ErrorDocument, 401: ErrorDocument, 404: ErrorDocument, 406: ErrorDocument, 410: ErrorDocument },
  });

  app.get('/servables/:owner/:name/citation', { schema: schema('How to cite the latest version', OwnerNameParams), handler: cite });
  app.get('/servables/:owner/:name/versions/:version/citation', { schema: schema('How to cite one version', OwnerNameVersionParams), handler: cite });
}
