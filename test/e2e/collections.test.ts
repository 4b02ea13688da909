/**
 * Citable collections (docs/collections.md) on a real in-process hub that mints DOIs through the
 * local DataCite stand-in (DataCite itself cannot be reached from these machines): the collection's
 * DOI is registered with `HasPart` each public member and each member's record gains `IsPartOf` it
 * (and loses it when the member is removed); BibTeX is parsed back with citation-js; DataCite XML
 * is validated with xmllint against the kernel-4 schema (test/helpers/datacite-xml.ts); the
 * landing page, search, visibility (a private member never shown to others) and bad input.
 * A second hub with local identifiers checks the identifier scheme there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cite } from '@citation-js/core';
import '@citation-js/plugin-bibtex';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { buildCli } from '../../sdk/cli.ts';
import { startDataciteStandIn, type DataciteStandIn } from '../fixtures/datacite-stand-in.ts';
import { validateDataciteXml, xpath } from '../helpers/datacite-xml.ts';
import { getJson, onnxMetadata, publishRaw } from '../helpers/hub-http.ts';

const PUBLIC_URL = 'https://hub.example.org';
const PREFIX = '10.5072';
const credentials = { prefix: PREFIX, repositoryId: 'MODELHUB.COLLECTIONS', password: 'stand-in-secret' };
const model = [{ name: 'mlp.onnx', bytes: buildMlpOnnx({ inputSize: 4, hidden: 3, classes: 2 }) }];
const TITLE = 'Models of "Radium & <decay>" (2026)';
const COLLECTION_DOI = `${PREFIX}/modelhub-collection.alice.paper`;
const doi = (owner: string, name: string, version: number) => `${PREFIX}/modelhub.${owner}.${name}.v${version}`;
const CREATORS = [{ name: 'Curie, Marie', orcid: '0000-0002-1825-0097', affiliation: ['Radium Institute'] }, { name: 'Radium Institute', nameType: 'Organizational' as const }];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-collections-'));
let app: FastifyInstance;
let url = '';
let standIn: DataciteStandIn;
const auth: Record<string, Record<string, string>> = {};

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((r) => setTimeout(r, 50))) {
    if (await check()) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function publishAs(user: string, name: string, extra: Parameters<typeof onnxMetadata>[2] = {}): Promise<void> {
  const accepted = await publishRaw(url, onnxMetadata(user, name, extra), model, auth[user]);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  await waitFor(`the publish of ${user}/${name}`, async () => ['SUCCEEDED', 'FAILED'].includes((await getJson(`${url}/api/v1/tasks/${accepted.body.task_id}`, auth[user])).body.status));
}

async function call(method: string, route: string, user?: string, body?: unknown) {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { ...(user ? auth[user] : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are read field by field, as each test goes
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: json };
}

const relationsOf = (doiName: string) => (standIn.dois.get(doiName.toLowerCase())?.attributes.relatedIdentifiers ?? []) as { relatedIdentifier: string; relationType: string }[];
const hasRelation = (doiName: string, relationType: string, target: string) => relationsOf(doiName).some((r) => r.relationType === relationType && r.relatedIdentifier.toLowerCase() === target.toLowerCase());

beforeAll(async () => {
  standIn = await startDataciteStandIn(credentials);
  app = await buildApp(
    loadConfig({
      MODELHUB_DATA: dir,
      MODELHUB_DEMO: 'false',
      MODELHUB_LOG_LEVEL: 'silent',
      MODELHUB_AUTH: 'tokens',
      MODELHUB_IDENTIFIERS: 'datacite',
      MODELHUB_DATACITE_URL: standIn.url,
      MODELHUB_DATACITE_PREFIX: credentials.prefix,
      MODELHUB_DATACITE_REPOSITORY: credentials.repositoryId,
      MODELHUB_DATACITE_PASSWORD: credentials.password,
      MODELHUB_PUBLIC_URL: PUBLIC_URL,
    }),
    { logger: false },
  );
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  for (const user of ['alice', 'bob']) {
    const { token } = await app.hub.tokens.create({ user, scopes: ['run', 'publish'], groups: [], created_by: 'local' });
    auth[user] = { authorization: `Bearer ${token}` };
  }
  await publishAs('alice', 'mlp');
  await publishAs('alice', 'mlp');
  await publishAs('alice', 'secret', { visibility: 'private' });
  await publishAs('bob', 'hidden', { visibility: 'private' });
  expect(standIn.dois.get(doi('alice', 'mlp', 2))?.state).toBe('findable');
}, 120_000);

afterAll(async () => {
  await app?.close();
  await standIn?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const paper = {
  title: TITLE,
  description: 'The three models behind Figure 3.',
  creators: CREATORS,
  members: [
    { servable: 'alice/mlp', version: 1 },
    { servable: 'alice/mlp', version: 2 },
    { servable: 'alice/secret', version: 1 },
  ],
};

describe('citable collections with DataCite DOIs (stand-in)', () => {
  it('mints a findable DOI with HasPart each public member, and the members gain IsPartOf it', async () => {
    const created = await call('POST', '/api/v1/collections/alice/paper', 'alice', paper);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ type: 'collection', owner: 'alice', name: 'paper', identifier: COLLECTION_DOI, identifier_type: 'DOI', identifier_state: 'findable', visibility: 'public' });
    expect(created.body.members.map((m: { servable: string; version: number }) => `${m.servable}@${m.version}`)).toEqual(['alice/mlp@1', 'alice/mlp@2', 'alice/secret@1']);

    const record = standIn.dois.get(COLLECTION_DOI);
    expect(record?.state).toBe('findable');
    expect(record?.attributes.types.resourceTypeGeneral).toBe('Collection');
    expect(record?.attributes.url).toBe(`${PUBLIC_URL}/id/${COLLECTION_DOI}`);
    // The public record names the public members only: the private one is not revealed.
    expect(relationsOf(COLLECTION_DOI).filter((r) => r.relationType === 'HasPart').map((r) => r.relatedIdentifier).sort()).toEqual([doi('alice', 'mlp', 1), doi('alice', 'mlp', 2)]);
    expect(JSON.stringify(record?.attributes)).not.toContain('secret');

    // Both ways: each member's DataCite record is pushed again with IsPartOf the collection.
    await waitFor('IsPartOf on the members', () => hasRelation(doi('alice', 'mlp', 1), 'IsPartOf', COLLECTION_DOI) && hasRelation(doi('alice', 'mlp', 2), 'IsPartOf', COLLECTION_DOI));
    // And the member's own citation says so.
    const cited = JSON.parse((await call('GET', '/api/v1/servables/alice/mlp/versions/1/citation?format=datacite-json')).text);
    expect(cited.relatedIdentifiers).toContainEqual({ relatedIdentifier: COLLECTION_DOI, relatedIdentifierType: 'DOI', relationType: 'IsPartOf' });
    expect(standIn.violations).toEqual([]);
  });

  it('shows each reader only the members they may see', async () => {
    const anonymous = await call('GET', '/api/v1/collections/alice/paper');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.members.map((m: { servable: string }) => m.servable)).toEqual(['alice/mlp', 'alice/mlp']);
    expect(anonymous.text).not.toContain('secret');
    const owner = await call('GET', '/api/v1/collections/alice/paper', 'alice');
    expect(owner.body.members).toHaveLength(3);
    expect(owner.body.members[2]).toMatchObject({ servable: 'alice/secret', version: 1, identifier: doi('alice', 'secret', 1) });
  });

  it('cites the collection in BibTeX (parsed back) and in DataCite XML valid against kernel-4', async () => {
    const bibtex = await call('GET', '/api/v1/collections/alice/paper/citation', undefined);
    expect(bibtex.status).toBe(200);
    expect(bibtex.headers.get('content-type')).toBe('application/x-bibtex; charset=utf-8');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- citation-js items are read field by field
    const [parsed] = (await Cite.async(bibtex.text)).data as Record<string, any>[];
    expect(parsed!.title).toBe(TITLE);
    expect(parsed!.author[0]).toMatchObject({ family: 'Curie', given: 'Marie' });
    expect(parsed!.DOI).toBe(COLLECTION_DOI);
    expect(parsed!.URL).toBe(`${PUBLIC_URL}/id/${COLLECTION_DOI}`);

    const text = await (await fetch(`${url}/api/v1/collections/alice/paper/citation`, { headers: { accept: 'application/vnd.datacite.datacite+xml' } })).text();
    const validation = validateDataciteXml(dir, text);
    expect(validation.ok, validation.output + text).toBe(true);
    const ns = "*[local-name()='resource']/*[local-name()=";
    expect(xpath(text, `string(/${ns}'identifier'])`)).toBe(COLLECTION_DOI);
    expect(xpath(text, `string(/${ns}'resourceType']/@resourceTypeGeneral)`)).toBe('Collection');
    expect(xpath(text, `count(/${ns}'relatedIdentifiers']/*[@relationType='HasPart'])`)).toBe('2');
    expect(text).not.toContain('secret');
  });

  it('has a landing page at its DOI: HTML, JSON and citations, never showing the private member to others', async () => {
    const html = await fetch(`${url}/id/${COLLECTION_DOI}`, { headers: { accept: 'text/html' } });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    const page = await html.text();
    expect(page).toContain('<h1>Models of &quot;Radium &amp; &lt;decay&gt;&quot; (2026)</h1>');
    expect(page).toContain(`${PUBLIC_URL}/id/${doi('alice', 'mlp', 2)}`);
    expect(page).not.toContain('secret');
    const json = await call('GET', `/id/${COLLECTION_DOI}`);
    expect(json.body).toMatchObject({ identifier: COLLECTION_DOI, title: TITLE, metadata_url: `${PUBLIC_URL}/api/v1/collections/alice/paper` });
    expect(json.body.related_identifiers).toHaveLength(2);
    const ris = await fetch(`${url}/id/${COLLECTION_DOI}`, { headers: { accept: 'application/x-research-info-systems' } });
    expect(await ris.text()).toMatch(/^TY {2}- /);
    // The member's landing page links back.
    const member = await call('GET', `/id/${doi('alice', 'mlp', 1)}`);
    expect(member.body.related_identifiers).toContainEqual({ relatedIdentifier: COLLECTION_DOI, relatedIdentifierType: 'DOI', relationType: 'IsPartOf' });
  });

  it('is found by search: words, owner and member; a private member is no way to find it', async () => {
    const byWords = await call('GET', '/api/v1/collections?q=radium%20figure');
    expect(byWords.body.total).toBe(1);
    expect(byWords.body.collections[0]).toMatchObject({ owner: 'alice', name: 'paper' });
    expect((await call('GET', '/api/v1/collections?q=polonium')).body.total).toBe(0);
    expect((await call('GET', '/api/v1/collections?containing=alice/mlp@2')).body.total).toBe(1);
    expect((await call('GET', '/api/v1/collections?containing=alice/secret')).body.total).toBe(0);
    expect((await call('GET', '/api/v1/collections?containing=alice/secret', 'alice')).body.total).toBe(1);
    expect((await call('GET', '/api/v1/collections?q=50%25_off')).body.total).toBe(0);
  });

  it('drops a member made private from the public DataCite record, and names it again once public', async () => {
    const hasParts = () => relationsOf(COLLECTION_DOI).filter((r) => r.relationType === 'HasPart').map((r) => r.relatedIdentifier).sort();
    expect((await call('PATCH', '/api/v1/servables/alice/mlp/versions/2', 'alice', { visibility: 'private' })).status).toBe(200);
    await waitFor('the collection record to drop version 2', () => hasParts().length === 1);
    expect(hasParts()).toEqual([doi('alice', 'mlp', 1)]);
    expect((await call('GET', '/api/v1/collections/alice/paper')).body.members.map((m: { version: number }) => m.version)).toEqual([1]);
    expect((await call('PATCH', '/api/v1/servables/alice/mlp/versions/2', 'alice', { visibility: 'public' })).status).toBe(200);
    await waitFor('the collection record to name version 2 again', () => hasParts().length === 2);
    expect(standIn.violations).toEqual([]);
  });

  it('answers bad input with the catalogue: unknown or unseen members 422, a taken name 409, another owner 403', async () => {
    const unknown = await call('POST', '/api/v1/collections/alice/other', 'alice', { ...paper, members: [{ servable: 'alice/mlp', version: 9 }] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({ code: 'MODELHUB_COLLECTION_MEMBER_NOT_FOUND', details: { member: 'alice/mlp@9' } });
    // Bob's private version reads exactly as an unknown one.
    const unseen = await call('POST', '/api/v1/collections/alice/other', 'alice', { ...paper, members: [{ servable: 'bob/hidden', version: 1 }] });
    expect(unseen.status).toBe(422);
    expect(unseen.body.error.code).toBe('MODELHUB_COLLECTION_MEMBER_NOT_FOUND');
    const taken = await call('POST', '/api/v1/collections/alice/paper', 'alice', paper);
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('MODELHUB_COLLECTION_EXISTS');
    expect((await call('POST', '/api/v1/collections/alice/by-bob', 'bob', { ...paper, members: [] })).status).toBe(403);
    expect((await call('POST', '/api/v1/collections/alice/x', 'alice', { title: 'x', members: [] })).body.error.code).toBe('MODELHUB_BAD_REQUEST');
    const twice = await call('POST', '/api/v1/collections/alice/x', 'alice', { ...paper, members: [paper.members[0], paper.members[0]] });
    expect(twice.status).toBe(400);
    expect((await call('GET', '/api/v1/collections/alice/nothing')).body.error.code).toBe('MODELHUB_COLLECTION_NOT_FOUND');
    expect((await call('POST', '/api/v1/collections/Alice/x', 'alice', paper)).status).toBe(400);
    expect((await call('PATCH', '/api/v1/collections/alice/paper', 'alice', {})).body.error.code).toBe('MODELHUB_BAD_REQUEST');
    expect((await call('PATCH', '/api/v1/collections/alice/paper', 'alice', { owner: 'bob' })).body.error.code).toBe('MODELHUB_BAD_REQUEST');
    expect((await call('PATCH', '/api/v1/collections/alice/paper', 'alice', { members: [{ servable: 'bob/hidden', version: 1 }] })).status).toBe(422);
    expect((await call('PATCH', '/api/v1/collections/alice/paper', 'bob', { title: 'Mine now' })).status).toBe(403);
  });

  it('keeps a private collection a draft that only its owner sees, and no member names it', async () => {
    const created = await call('POST', '/api/v1/collections/alice/draft', 'alice', { ...paper, members: [{ servable: 'alice/mlp', version: 1 }], visibility: 'private' });
    expect(created.status, created.text).toBe(201);
    expect(created.body.identifier_state).toBe('draft');
    expect(standIn.dois.get(`${PREFIX}/modelhub-collection.alice.draft`)?.state).toBe('draft');
    expect((await call('GET', '/api/v1/collections/alice/draft')).status).toBe(404);
    expect((await call('GET', '/api/v1/collections/alice/draft', 'bob')).status).toBe(404);
    expect((await call('GET', `/id/${PREFIX}/modelhub-collection.alice.draft`)).status).toBe(404);
    expect((await call('GET', '/api/v1/collections?q=radium')).body.total).toBe(1);
    const cited = JSON.parse((await call('GET', '/api/v1/servables/alice/mlp/versions/1/citation?format=datacite-json', 'alice')).text);
    expect(JSON.stringify(cited)).not.toContain('modelhub-collection.alice.draft');
  });

  it('updates members both ways, and a withdrawn collection keeps resolving to a tombstone', async () => {
    const patched = await call('PATCH', '/api/v1/collections/alice/paper', 'alice', { members: [{ servable: 'alice/mlp', version: 2 }] });
    expect(patched.status, patched.text).toBe(200);
    expect(relationsOf(COLLECTION_DOI).filter((r) => r.relationType === 'HasPart').map((r) => r.relatedIdentifier)).toEqual([doi('alice', 'mlp', 2)]);
    await waitFor('version 1 to lose IsPartOf', () => !hasRelation(doi('alice', 'mlp', 1), 'IsPartOf', COLLECTION_DOI));
    expect(hasRelation(doi('alice', 'mlp', 2), 'IsPartOf', COLLECTION_DOI)).toBe(true);

    expect((await call('DELETE', '/api/v1/collections/alice/paper', 'bob')).status).toBe(403);
    const withdrawn = await call('DELETE', '/api/v1/collections/alice/paper', 'alice');
    expect(withdrawn.body).toMatchObject({ withdrawn: true, identifier_state: 'withdrawn' });
    expect(standIn.dois.get(COLLECTION_DOI)?.state).toBe('registered');
    expect((await call('GET', '/api/v1/collections/alice/paper')).body.error.code).toBe('MODELHUB_COLLECTION_WITHDRAWN');
    const tombstone = await fetch(`${url}/id/${COLLECTION_DOI}`, { headers: { accept: 'text/html' } });
    expect(await tombstone.text()).toContain('<strong>Withdrawn</strong>');
    await waitFor('version 2 to lose IsPartOf', () => !hasRelation(doi('alice', 'mlp', 2), 'IsPartOf', COLLECTION_DOI));
    expect((await call('POST', '/api/v1/collections/alice/paper', 'alice', paper)).status).toBe(409);
    expect(standIn.violations).toEqual([]);
  });
});

describe('collections on a hub with local identifiers', () => {
  const localDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-collections-local-'));
  let local: FastifyInstance;
  let localUrl = '';
  beforeAll(async () => {
    local = await buildApp(loadConfig({ MODELHUB_DATA: localDir, MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent', MODELHUB_PUBLIC_URL: PUBLIC_URL }), { logger: false });
    localUrl = await local.listen({ port: 0, host: '127.0.0.1' });
    const accepted = await publishRaw(localUrl, onnxMetadata('lab', 'mlp'), model);
    await waitFor('the publish', async () => (await getJson(`${localUrl}/api/v1/tasks/${accepted.body.task_id}`)).body.status === 'SUCCEEDED');
  }, 60_000);
  afterAll(async () => {
    await local?.close();
    fs.rmSync(localDir, { recursive: true, force: true });
  });

  it('names the collection modelhub-collection:owner/name, related by its landing page', async () => {
    const created = await fetch(`${localUrl}/api/v1/collections/lab/paper`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Lab models', creators: [{ name: 'Lab' }], members: [{ servable: 'lab/mlp', version: 1 }] }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ identifier: 'modelhub-collection:lab/paper', identifier_type: 'LOCAL', identifier_state: 'local' });
    const page = await fetch(`${localUrl}/id/modelhub-collection:lab/paper`, { headers: { accept: 'application/json' } });
    expect(page.status).toBe(200);
    const cited = JSON.parse(await (await fetch(`${localUrl}/api/v1/servables/lab/mlp/versions/1/citation?format=datacite-json`)).text());
    expect(cited.relatedIdentifiers).toContainEqual({ relatedIdentifier: `${PUBLIC_URL}/id/modelhub-collection:lab/paper`, relatedIdentifierType: 'URL', relationType: 'IsPartOf' });
    const xml = await (await fetch(`${localUrl}/api/v1/collections/lab/paper/citation?format=datacite-xml`)).text();
    expect(xml).toContain('<identifier identifierType="LOCAL">modelhub-collection:lab/paper</identifier>');
  });

  it('is made, shown, found and cited through the SDK and the CLI', async () => {
    const client = new HubClient({ url: localUrl });
    const created = await client.createCollection('lab/sdk', { title: 'Made by the SDK', creators: [{ name: 'Lab' }], members: [{ servable: 'lab/mlp', version: 1 }] });
    expect(created).toMatchObject({ identifier: 'modelhub-collection:lab/sdk', members: [{ servable: 'lab/mlp', version: 1 }] });
    expect((await client.collection('lab/sdk')).title).toBe('Made by the SDK');
    expect((await client.searchCollections({ q: 'sdk' })).total).toBe(1);
    expect(await client.citeCollection('lab/sdk', 'ris')).toMatch(/^TY {2}- /);
    const out: string[] = [];
    const cli = (...args: string[]) => buildCli({ out: (line) => out.push(line), err: (line) => out.push(line) }).parseAsync(['node', 'modelhub', '--url', localUrl, ...args]);
    await cli('collection', 'create', 'lab/cli', '--title', 'Made by the CLI', '--creator', 'Curie, Marie', '--member', 'lab/mlp@1');
    expect(out.join('\n')).toContain('modelhub-collection:lab/cli');
    out.length = 0;
    await cli('collection', 'search', 'cli');
    expect(out.join('\n')).toMatch(/^1 collection\b/);
    out.length = 0;
    await cli('collection', 'cite', 'lab/cli', '--format', 'bibtex');
    expect(out.join('\n')).toMatch(/^@misc\{lab_cli,[\s\S]*author = \{Curie, Marie\}/);
    out.length = 0;
    const exitCode = process.exitCode;
    await cli('collection', 'create', 'lab/bad', '--title', 'x', '--creator', 'Lab', '--member', 'lab/mlp@7');
    process.exitCode = exitCode;
    expect(out.join('\n')).toContain('MODELHUB_COLLECTION_MEMBER_NOT_FOUND');
  });
});
