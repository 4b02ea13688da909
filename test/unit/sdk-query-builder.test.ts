import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import type { SearchReply, SearchSort } from '../../schemas/api.ts';
import { buildCli } from '../../hub-server/cli.ts';
import { searchServables } from '../../sdk/operations/search-servables.ts';
import { SearchQueryBuilder } from '../../sdk/query-builder.ts';
import { searchFixtures } from '../contract/metadata-fixtures.ts';
import { parseServableName, servablePath } from '../../sdk/servable-name.ts';

describe('SearchQueryBuilder', () => {
  it('turns every matcher into its /search parameter', () => {
    const params = new SearchQueryBuilder()
      .text('band gap')
      .text('perovskite')
      .matchDomains(['materials science', 'chemistry'])
      .matchAuthors(['Curie, Marie', 'Bohr'])
      .matchOwner('alice')
      .matchType('onnx')
      .matchDoi('10.1000/xyz123')
      .latestOnly(false)
      .limit(5)
      .offset(10)
      .sortBy('newest')
      .toParams();
    expect(Object.fromEntries(params)).toEqual({
      q: 'band gap perovskite',
      domain: 'materials science,chemistry',
      author: 'Curie, Marie;Bohr',
      owner: 'alice',
      type: 'onnx',
      doi: '10.1000/xyz123',
      latest: 'false',
      limit: '5',
      offset: '10',
      sort: 'newest',
    });
    expect(params.toString()).toBe(
      'q=band+gap+perovskite&owner=alice&domain=materials+science%2Cchemistry&author=Curie%2C+Marie%3BBohr&type=onnx&doi=10.1000%2Fxyz123&limit=5&offset=10&latest=false&sort=newest',
    );
  });

  it('sends nothing it was not given', () => {
    expect(new SearchQueryBuilder().text('  ').toParams().toString()).toBe('');
    expect(new SearchQueryBuilder().latestOnly().toParams().toString()).toBe('latest=true');
  });

  it('sorts by relevance, newest or title, the last call winning, and refuses other orders', () => {
    for (const sort of ['relevance', 'newest', 'title'] as const) expect(new SearchQueryBuilder().sortBy(sort).toParams().get('sort')).toBe(sort);
    expect(new SearchQueryBuilder().sortBy('title').sortBy('newest').toParams().getAll('sort')).toEqual(['newest']);
    expect(() => new SearchQueryBuilder().sortBy('popular' as SearchSort)).toThrow(/one of relevance, newest, title/);
  });
});

describe('search order through the SDK and `modelhub search --sort` (a real hub over the contract fixtures)', () => {
  let app: FastifyInstance;
  let url = '';
  let dataDir = '';
  /** The visible latest versions' titles in the contract's title order, computed here. */
  const titlesAZ = () => {
    const latest = new Map<string, (typeof searchFixtures)[number]>();
    for (const document of searchFixtures) {
      if (document.hub.visibility !== 'public') continue;
      const key = `${document.hub.owner}/${document.hub.name}`;
      if ((latest.get(key)?.hub.version ?? 0) < document.hub.version) latest.set(key, document);
    }
    return [...latest.values()].map((document) => document.datacite.titles[0]!.title).sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
  };
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const program = buildCli({ out: (line) => out.push(line), err: (line) => err.push(line) });
    // commander exits the process on a bad choice; here it throws instead.
    program.commands.find((command) => command.name() === 'search')!.exitOverride().configureOutput({ writeErr: (text) => err.push(text) });
    const exitCode = process.exitCode;
    try {
      await program.parseAsync(['node', 'modelhub', '--url', url, ...args]);
    } catch (error) {
      err.push((error as Error).message);
    } finally {
      process.exitCode = exitCode;
    }
    return { out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-sdk-sort-'));
    app = await buildApp(loadConfig({ MODELHUB_DATA: dataDir, MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent' }), { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    for (const document of searchFixtures) await app.hub.index.index(document);
  });
  afterAll(async () => {
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('searchServables sends the order, its sort overriding the builder\'s', async () => {
    const byTitle = await searchServables({ hubUrl: url, query: new SearchQueryBuilder().sortBy('newest'), sort: 'title' });
    expect(byTitle.hits.map((hit) => hit.title)).toEqual(titlesAZ());
    const newest = await searchServables({ hubUrl: url, query: 'classifier', sort: 'newest' });
    expect(newest.hits.map((hit) => hit.servable)).toEqual(['astro/supernova-lightcurves', 'astro/galaxy-morphology', 'ward-lab/bandgap-cnn', 'lecun-lab/mnist-mlp']);
  });

  it('modelhub search --sort title|newest prints hits in that order; another order is refused before any request', async () => {
    const titled = JSON.parse((await cli('--json', 'search', '--sort', 'title')).out) as SearchReply;
    expect(titled.hits.map((hit) => hit.title)).toEqual(titlesAZ());
    const paged = JSON.parse((await cli('--json', 'search', '--sort', 'title', '--limit', '2', '--offset', '2')).out) as SearchReply;
    expect(paged.hits.map((hit) => hit.title)).toEqual(titlesAZ().slice(2, 4));
    const human = await cli('search', 'classifier', '--sort', 'newest');
    const rows = human.out.split('\n').filter((line) => /^\S+\/\S+\s/.test(line)).map((line) => line.split(/\s+/)[0]);
    expect(rows).toEqual(['astro/supernova-lightcurves', 'astro/galaxy-morphology', 'ward-lab/bandgap-cnn', 'lecun-lab/mnist-mlp']);

    // Repeated --domain and --author options: a servable matching any of them is a hit.
    const domains = JSON.parse((await cli('--json', 'search', '--domain', 'materials science', '--domain', 'astronomy')).out) as SearchReply;
    expect(domains.hits.map((hit) => hit.servable).sort()).toEqual(['astro/galaxy-morphology', 'astro/supernova-lightcurves', 'ward-lab/bandgap-cnn', 'ward-lab/formation-energy']);
    const authors = JSON.parse((await cli('--json', 'search', '--author', 'Huertas-Company, M', '--author', 'LeCun')).out) as SearchReply;
    expect(authors.hits.map((hit) => hit.servable).sort()).toEqual(['astro/galaxy-morphology', 'lecun-lab/mnist-mlp']);

    const refused = await cli('search', '--sort', 'popular');
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(/argument 'popular' is invalid.*Allowed choices are relevance, newest, title/s);
  });
});

describe('servable names', () => {
  it('parses owner/name and owner/name@version', () => {
    expect(parseServableName('alice/vad')).toEqual({ owner: 'alice', name: 'vad' });
    expect(parseServableName('alice/vad@3')).toEqual({ owner: 'alice', name: 'vad', version: 3 });
    expect(parseServableName('alice/vad', 2)).toEqual({ owner: 'alice', name: 'vad', version: 2 });
    expect(servablePath({ owner: 'alice', name: 'v.1', version: 2 })).toBe('/servables/alice/v.1/versions/2');
  });

  it('refuses what API.md does not allow', () => {
    for (const bad of ['vad', 'Alice/vad', 'alice/vad@0', 'alice/vad@x', 'a/b/c', '-a/b']) {
      expect(() => parseServableName(bad), bad).toThrow(TypeError);
    }
  });
});
