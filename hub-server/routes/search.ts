/**
 * Search with facets (`/api/v1/search`), answering only with what the caller may see.
 */
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { ErrorDocument, SearchQuery, SearchReply } from '../../schemas/api.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

/**
 * Fastify's wording, except that a value outside an enum (`sort=popular`) names the values that
 * are allowed, so the caller need not look them up. The app's error handler still turns it into
 * MODELHUB_BAD_REQUEST with the per-field details.
 */
function validationMessage(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const parts = errors.map((error) => {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues;
    const message = error.keyword === 'enum' && Array.isArray(allowed) ? `must be one of ${allowed.join(', ')}` : error.message;
    return `${dataVar}${error.instancePath} ${message ?? 'is invalid'}`;
  });
  return new Error(parts.join(', '));
}

export default async function searchRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/search', {
    schema: {
      summary: 'Search servables',
      description: 'Hits ordered by `sort`: `relevance` (default; score, then newest), `newest` (publication date, then version) or `title` (A-Z, ignoring case). Totals and facets do not depend on the order.',
      tags: ['search'],
      querystring: SearchQuery,
      response: { 200: SearchReply, 400: ErrorDocument, 401: ErrorDocument, 503: ErrorDocument },
    },
    schemaErrorFormatter: validationMessage,
    handler: async (request) => {
      app.requireReader(request);
      // `sort` arrives validated, `relevance` when absent: the index orders the hits.
      const query = request.query;
      return app.hub.index.search({ ...query, viewer: request.viewer });
    },
  });
}
