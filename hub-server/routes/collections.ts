/**
 * Citable collections (docs/collections.md): `POST|GET|PATCH|DELETE /collections/{owner}/{name}`,
 * `GET /collections?q=` (search), `GET /collections/{owner}/{name}/citation`. The work is
 * use-cases/collections/collection-service.ts; the landing page is routes/collection-landing.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { CollectionCreate, CollectionList, CollectionListQuery, CollectionParams, CollectionPatch, CollectionView } from '../../schemas/collections.ts';
import { HubError } from '../../schemas/errors.ts';
import { CITATION_FORMATS, CITATION_MEDIA_TYPES, formatCitation, negotiateCitationFormat } from '../use-cases/citation-formats.ts';

const tags = ['collections'];
const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 409: ErrorDocument, 410: ErrorDocument, 422: ErrorDocument };

export default async function collectionRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { collections } = app.hub;

  app.get('/collections', {
    schema: { summary: 'Find collections (newest first)', tags, querystring: CollectionListQuery, response: { 200: CollectionList, 400: ErrorDocument, 401: ErrorDocument } },
    handler: async (request) => {
      app.requireReader(request);
      return collections.list(request.query, request.viewer);
    },
  });

  app.post('/collections/:owner/:name', {
    schema: { summary: 'Create a collection of servable versions, with its own identifier', tags, params: CollectionParams, body: CollectionCreate, response: { 201: CollectionView, ...errors } },
    handler: async (request, reply) => {
      const { owner, name } = request.params;
      app.requirePublisher(request, owner);
      const record = await collections.create(owner, name, request.body, request.viewer);
      return reply.code(201).send(await collections.view(record, request.viewer));
    },
  });

  app.get('/collections/:owner/:name', {
    schema: { summary: 'A collection, with the members this reader may see', tags, params: CollectionParams, response: { 200: CollectionView, ...errors } },
    handler: async (request) => {
      app.requireReader(request);
      const record = await collections.get(request.params.owner, request.params.name, request.viewer);
      if (record.withdrawn_at) throw new HubError('COLLECTION_WITHDRAWN', `${record.owner}/${record.name}`, { details: { withdrawn_at: record.withdrawn_at, landing_url: collections.landingUrl(record.identifier) } });
      return collections.view(record, request.viewer);
    },
  });

  app.patch('/collections/:owner/:name', {
    schema: { summary: 'Change a collection: what is given replaces what was', tags, params: CollectionParams, body: CollectionPatch, response: { 200: CollectionView, ...errors } },
    handler: async (request) => {
      const { owner, name } = request.params;
      app.requirePublisher(request, owner);
      const record = await collections.update(owner, name, request.body, request.viewer);
      return collections.view(record, request.viewer);
    },
  });

  app.delete('/collections/:owner/:name', {
    schema: { summary: 'Withdraw a collection: its identifier keeps resolving, to a tombstone', tags, params: CollectionParams, response: { 200: CollectionView, ...errors } },
    handler: async (request) => {
      const { owner, name } = request.params;
      app.requirePublisher(request, owner);
      return collections.view(await collections.withdraw(owner, name, request.viewer), request.viewer);
    },
  });

  app.get('/collections/:owner/:name/citation', {
    schema: {
      summary: 'How to cite a collection',
      description: `Formats: ${CITATION_FORMATS.join(', ')}; \`?format=\` wins over Accept; neither means BibTeX.`,
      tags,
      params: CollectionParams,
      querystring: Type.Object({ format: Type.Optional(Type.Union(CITATION_FORMATS.map((f) => Type.Literal(f)))) }),
      produces: Object.values(CITATION_MEDIA_TYPES),
      response: { 200: Type.String({ description: 'the citation, in the format asked for' }), 400: ErrorDocument, 401: ErrorDocument, 404: ErrorDocument, 406: ErrorDocument },
    },
    handler: async (request, reply) => {
      app.requireReader(request);
      const format = negotiateCitationFormat(request.query.format, request.headers.accept);
      // A withdrawn collection stays citable: papers that cite it keep making sense.
      const record = await collections.get(request.params.owner, request.params.name, request.viewer);
      const { body, contentType } = formatCitation(await collections.citationSubject(record, request.viewer), format);
      return reply.header('vary', 'accept').type(contentType).send(body);
    },
  });
}
