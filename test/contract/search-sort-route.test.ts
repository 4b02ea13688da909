/**
 * `GET /api/v1/search?sort=` through the real app (SQLite index, `inject`): the route takes the
 * order from the schema in `schemas/api.ts`, hands it to the index, and refuses an unknown order
 * with the hub's JSON error. The orders themselves are the SearchIndex contract's business.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import type { SearchReply } from '../../schemas/api.ts';
import { searchFixtures } from './search-index-contract.ts';

describe('GET /api/v1/search?sort=', () => {
  let app: FastifyInstance;
  let dataDir: string;
  const search = async (query: string) => {
    const reply = await app.inject(`/api/v1/search?${query}`);
    return { status: reply.statusCode, body: reply.json() as SearchReply & { error?: { code: string; message: string; details: unknown } } };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-search-route-'));
    app = await buildApp(loadConfig({ MODELHUB_DATA: dataDir, MODELHUB_LOG_LEVEL: 'warn' }), { logger: false });
    await app.ready();
    for (const document of searchFixtures) await app.hub.index.index(document);
  });
  afterAll(async () => {
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('passes each order to the index, relevance by default', async () => {
    const direct = (sort?: 'relevance' | 'newest' | 'title') => app.hub.index.search({ q: 'classifier', ...(sort ? { sort } : {}) });
    expect((await search('q=classifier')).body).toEqual(await direct());
    expect((await search('q=classifier&sort=relevance')).body).toEqual(await direct());
    for (const sort of ['newest', 'title'] as const) {
      const { status, body } = await search(`q=classifier&sort=${sort}`);
      expect(status).toBe(200);
      expect(body).toEqual(await direct(sort));
      expect(body.hits.map((hit) => hit.servable)).not.toEqual((await direct()).hits.map((hit) => hit.servable));
    }
    expect((await search('sort=title&limit=2&offset=1')).body.hits.map((hit) => hit.title)).toEqual([
      'Formation energy of inorganic crystals', 'Galaxy morphology classifier',
    ]);
  });

  it('answers an unknown or repeated sort with 400 MODELHUB_BAD_REQUEST naming the allowed values', async () => {
    for (const query of ['sort=popular', 'sort=', 'sort=TITLE', 'sort=newest&sort=title']) {
      const { status, body } = await search(query);
      expect(status, query).toBe(400);
      expect(body.error?.code, query).toBe('MODELHUB_BAD_REQUEST');
      expect(body.error?.message, query).toContain('querystring/sort must be one of relevance, newest, title');
      expect(body.error?.details, query).toContainEqual({ path: '/sort', message: expect.any(String) });
    }
  });
});
