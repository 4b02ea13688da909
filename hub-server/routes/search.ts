/**
 * Search with facets (`/api/v1/search`), answering only with what the caller may see.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorDocument, SearchQuery, SearchReply } from '../../schemas/api.ts';

export default async function searchRoutes(app: FastifyInstance): Promise<void> {
  app.get('/search', {
    schema: {
      summary: 'Search servables',
      tags: ['search'],
      querystring: SearchQuery,
      response: { 200: SearchReply, 400: ErrorDocument, 401: ErrorDocument, 503: ErrorDocument },
    },
    handler: async (request) => {
      app.requireReader(request);
      const query = request.query as SearchQuery;
      return app.hub.index.search({ ...query, viewer: request.viewer });
    },
  });
}
