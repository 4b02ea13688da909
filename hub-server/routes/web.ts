/**
 * The web catalogue: a search page, model cards and publish tasks, served by the hub itself.
 * The pages are one small HTML shell and plain ES modules under `hub-server/web/` (no build step);
 * everything they show comes from the public hub API, called from the browser with the visitor's
 * own token, so the catalogue can never show more than the API would.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { NAME_PATTERN, OWNER_PATTERN } from '../../schemas/metadata.ts';
import { SearchQuery } from '../../schemas/api.ts';

export const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

// Pages run only the hub's own scripts and talk only to the hub; inline code is refused.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const html = { 200: Type.String({ description: 'the catalogue page (HTML)' }) };

const SearchPageQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 500 })),
  domain: Type.Optional(Type.String({ maxLength: 200 })),
  type: Type.Optional(Type.String({ maxLength: 50 })),
  owner: Type.Optional(Type.String({ maxLength: 100 })),
  author: Type.Optional(Type.String({ maxLength: 200 })),
  sort: SearchQuery.properties.sort,
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
});

const ModelPageParams = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN }),
  name: Type.String({ pattern: NAME_PATTERN }),
});
const ModelPageQuery = Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1 })) });
const TaskPageParams = Type.Object({ task_id: Type.String({ minLength: 1, maxLength: 100 }) });

export default async function webRoutes(app: FastifyInstance): Promise<void> {
  // Read once: the shell is tiny, and every page is the same shell with a different script path.
  const shell = await fsp.readFile(path.join(WEB_DIR, 'index.html'), 'utf8');
  const sendShell = (reply: FastifyReply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .send(shell);

  await app.register(fastifyStatic, {
    root: path.join(WEB_DIR, 'assets'),
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    // No content hashes without a build step: revalidate with the ETag instead of trusting a max-age.
    cacheControl: true,
    maxAge: 0,
    setHeaders: (reply) => reply.header('x-content-type-options', 'nosniff'),
  });

  const page = (summary: string) => ({ summary, tags: ['web'], hide: true, produces: ['text/html'], response: html });

  app.get('/', { schema: { ...page('The catalogue: search with facets'), querystring: SearchPageQuery } }, async (_request, reply) => sendShell(reply));
  app.get('/models/:owner/:name', {
    schema: { ...page('A model card'), params: ModelPageParams, querystring: ModelPageQuery },
    handler: async (_request, reply) => sendShell(reply),
  });
  app.get('/tasks/:task_id', {
    schema: { ...page('A publish or run task: its steps and log'), params: TaskPageParams },
    handler: async (_request, reply) => sendShell(reply),
  });
}
