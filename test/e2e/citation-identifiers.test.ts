/**
 * Identifiers and citation end to end against the real hub: versions linked to each other and to
 * the concept identifier, the /citation route in every format and through Accept, landing pages
 * (HTML, JSON, citations) with tombstones, private servables answered as unknown ones; then a hub
 * minting DOIs through a local DataCite stand-in (DataCite itself cannot be reached from these
 * machines): publishes succeed while the stand-in refuses or is down, the identifiers stay pending
 * with the reason, and are registered by the background retry once it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cite } from '@citation-js/core';
import '@citation-js/plugin-bibtex';
import '@citation-js/plugin-ris';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, onnxMetadata, publishAndWait, publishRaw } from '../helpers/hub-http.ts';
import type { TaskDocument } from '../../schemas/api.ts';
import { startDataciteStandIn, type DataciteStandIn } from '../fixtures/datacite-stand-in.ts';

const SPEC = { inputSize: 4, hidden: 3, classes: 2, inputName: 'x', outputName: 'y' };
const model = [{ name: 'mlp.onnx', bytes: buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 3) }) }];
const TITLE = 'Radium & <decay> "model"';

function metadata(owner: string, name: string, extra: Parameters<typeof onnxMetadata>[2] = {}) {
  const document = onnxMetadata(owner, name, extra);
  document.datacite.titles = [{ title: TITLE }];
  return document;
}

/** Landing pages and DOIs point at the hub's public URL, fixed here because tests listen on a free port. */
const PUBLIC_URL = 'https://hub.example.org';

/** A token for `user`, made on the data folder as `modelhub token create` does. */
async function tokenFor(hub: TestHub, user: string): Promise<Record<string, string>> {
  const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
  try {
    const created = await store.create({ user, scopes: ['run', 'publish'], groups: [], created_by: 'local' });
    return { authorization: `Bearer ${created.token}` };
  } finally {
    await store.close();
  }
}

/** Publish as a token's user and follow the task with the same token (a private servable's task is theirs alone). */
async function publishAs(url: string, document: unknown, headers: Record<string, string>): Promise<{ task: TaskDocument }> {
  const accepted = await publishRaw(url, document, model, headers);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  for (const started = Date.now(); Date.now() - started < 60_000; await new Promise((r) => setTimeout(r, 50))) {
    const task = (await getJson(`${url}/api/v1/tasks/${accepted.body.task_id}`, headers)).body as TaskDocument;
    if (task.status === 'SUCCEEDED' || task.status === 'FAILED') return { task };
  }
  throw new Error('the publish task did not finish in 60 s');
}

async function get(url: string, accept?: string) {
  const response = await fetch(url, accept ? { headers: { accept } } : {});
  return { status: response.status, type: response.headers.get('content-type') ?? '', vary: response.headers.get('vary'), text: await response.text() };
}

describe('identifiers and citation on a hub with local identifiers', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_PUBLIC_URL: PUBLIC_URL } });
    for (let i = 0; i < 3; i++) {
      const { task } = await publishAndWait(hub.url, metadata('curie', 'radium'), model);
      expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    }
    const { task } = await publishAs(hub.url, metadata('bob', 'secret', { visibility: 'private' }), await tokenFor(hub, 'bob'));
    expect(task.status).toBe('SUCCEEDED');
  });
  afterAll(async () => hub?.stop());

  it('links each version to the previous one and to the concept identifier in its metadata document', async () => {
    const v2 = await getJson(`${hub.url}/api/v1/servables/curie/radium/versions/2`);
    const resolver = (id: string) => `${PUBLIC_URL}/api/v1/identifiers/${encodeURIComponent(id)}`;
    expect(v2.body.datacite.relatedIdentifiers).toEqual([
      { relatedIdentifier: resolver('modelhub:curie/radium'), relatedIdentifierType: 'URL', relationType: 'IsVersionOf' },
      { relatedIdentifier: resolver('modelhub:curie/radium/v1'), relatedIdentifierType: 'URL', relationType: 'IsNewVersionOf' },
    ]);
    const v1 = await getJson(`${hub.url}/api/v1/servables/curie/radium/versions/1`);
    expect(v1.body.datacite.relatedIdentifiers).toEqual([{ relatedIdentifier: resolver('modelhub:curie/radium'), relatedIdentifierType: 'URL', relationType: 'IsVersionOf' }]);
    // The older version's citation gains the link forward (its stored document is immutable).
    const cited = JSON.parse((await get(`${hub.url}/api/v1/servables/curie/radium/versions/2/citation?format=datacite-json`)).text);
    expect(cited.relatedIdentifiers).toContainEqual({ relatedIdentifier: resolver('modelhub:curie/radium/v3'), relatedIdentifierType: 'URL', relationType: 'IsPreviousVersionOf' });
  });

  it('cites in every format by ?format= and by Accept, and refuses what it cannot produce', async () => {
    const base = `${hub.url}/api/v1/servables/curie/radium/versions/2/citation`;
    const types: Record<string, string> = {
      bibtex: 'application/x-bibtex', csl: 'application/vnd.citationstyles.csl+json', ris: 'application/x-research-info-systems',
      apa: 'text/x-bibliography', 'datacite-xml': 'application/vnd.datacite.datacite+xml', 'datacite-json': 'application/vnd.datacite.datacite+json',
    };
    for (const [format, type] of Object.entries(types)) {
      const byQuery = await get(`${base}?format=${format}`);
      const byAccept = await get(base, type);
      expect(byQuery.status, byQuery.text).toBe(200);
      expect(byQuery.type).toBe(`${type}; charset=utf-8`);
      expect(byAccept.type).toBe(`${type}; charset=utf-8`);
      expect(byAccept.vary).toMatch(/accept/i);
      expect(byAccept.text).toBe(byQuery.text);
    }
    const bibtex = (await get(`${hub.url}/api/v1/servables/curie/radium/citation`)).text;
    const [parsed] = (await Cite.async(bibtex)).data as Record<string, any>[];
    expect(parsed!.title).toBe(TITLE);
    expect(parsed!.author[0]).toMatchObject({ family: 'Curie', given: 'Marie' });
    expect(parsed!.URL).toBe(`${PUBLIC_URL}/id/modelhub:curie/radium/v3`);
    const apa = (await get(`${base}?format=apa`)).text;
    expect(apa).toMatch(/^Curie, M\. \(\d{4}\)\. Radium & <decay> “model” \(Version 2\) \[Computer software\]\. modelhub\./);
    const notAcceptable = await get(base, 'application/json');
    expect(notAcceptable.status).toBe(406);
    expect(JSON.parse(notAcceptable.text).error.code).toBe('MODELHUB_NOT_ACCEPTABLE');
    expect((await get(`${base}?format=mla`)).status).toBe(400);
  });

  it('serves a landing page per identifier: HTML for browsers, JSON for clients, citations on request', async () => {
    const page = `${hub.url}/id/modelhub:curie/radium/v2`;
    const html = await get(page, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
    expect(html.status).toBe(200);
    expect(html.type).toBe('text/html; charset=utf-8');
    expect(html.text).toContain('<h1>Radium &amp; &lt;decay&gt; &quot;model&quot;</h1>');
    expect(html.text).toContain('<a href="https://orcid.org/0000-0002-1825-0097" rel="author">');
    expect(html.text).toContain(`href="${PUBLIC_URL}/id/modelhub:curie/radium/v3"`);
    expect(html.text).toContain(`href="${PUBLIC_URL}/api/v1/servables/curie/radium/versions/2"`);
    expect(html.text).not.toContain('<decay>');
    for (const format of ['bibtex', 'csl', 'ris', 'apa', 'datacite-xml', 'datacite-json']) expect(html.text).toContain(`<h3>${format} `);

    const json = await getJson(page, { accept: 'application/json' });
    expect(json.body).toMatchObject({
      identifier: 'modelhub:curie/radium/v2', servable: 'curie/radium', version: 2, state: 'local', withdrawn: false, title: TITLE,
      creators: [{ name: 'Curie, Marie', orcid: 'https://orcid.org/0000-0002-1825-0097' }],
    });
    expect(json.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
    const concept = await getJson(`${hub.url}/id/modelhub:curie/radium`);
    expect(concept.body).toMatchObject({ concept: true, identifier: 'modelhub:curie/radium' });
    expect(concept.body.related_identifiers.filter((r: { relationType: string }) => r.relationType === 'HasVersion')).toHaveLength(3);
    const ris = await get(page, 'application/x-research-info-systems');
    expect(ris.text.startsWith('TY  - COMP')).toBe(true);
  });

  it('keeps a withdrawn version resolving to a tombstone that says when and why', async () => {
    const withdrawn = await fetch(`${hub.url}/api/v1/servables/curie/radium/versions/1?reason=${encodeURIComponent('a <bug> in the weights')}`, { method: 'DELETE' });
    expect(withdrawn.status).toBe(200);
    const json = await getJson(`${hub.url}/id/modelhub:curie/radium/v1`);
    expect(json.body).toMatchObject({ withdrawn: true, state: 'withdrawn', withdrawn_reason: 'a <bug> in the weights' });
    expect(json.body.withdrawn_at).toMatch(/^\d{4}-/);
    const html = await get(`${hub.url}/id/modelhub:curie/radium/v1`, 'text/html');
    expect(html.text).toContain('<strong>Withdrawn</strong>');
    expect(html.text).toContain('a &lt;bug&gt; in the weights');
    expect((await get(`${hub.url}/api/v1/servables/curie/radium/versions/1/citation`)).status).toBe(410);
    const xml = (await get(`${hub.url}/id/modelhub:curie/radium/v1`, 'application/vnd.datacite.datacite+xml')).text;
    expect(xml).toContain('dateType="Withdrawn" dateInformation="a &lt;bug&gt; in the weights"');
  });

  it('answers for a private servable exactly as for an unknown one', async () => {
    const secret = await get(`${hub.url}/api/v1/servables/bob/secret/citation`);
    const unknown = await get(`${hub.url}/api/v1/servables/bob/nothing/citation`);
    expect(secret.status).toBe(404);
    expect(JSON.parse(secret.text).error.message.replace('secret', 'X')).toBe(JSON.parse(unknown.text).error.message.replace('nothing', 'X'));
    const landing = await get(`${hub.url}/id/modelhub:bob/secret/v1`, 'application/json');
    const unknownLanding = await get(`${hub.url}/id/modelhub:bob/nothing/v1`, 'application/json');
    expect(landing.status).toBe(404);
    expect(JSON.parse(landing.text).error.message.replace('secret', 'X')).toBe(JSON.parse(unknownLanding.text).error.message.replace('nothing', 'X'));
    const concept = await getJson(`${hub.url}/id/modelhub:curie/radium`);
    expect(JSON.stringify(concept.body)).not.toContain('secret');
  });
});

describe('DataCite DOIs through a local stand-in (DataCite itself cannot be reached from these machines)', () => {
  let hub: TestHub;
  let standIn: DataciteStandIn;
  const credentials = { prefix: '10.5072', repositoryId: 'MODELHUB.E2E', password: 'stand-in-secret' };
  beforeAll(async () => {
    standIn = await startDataciteStandIn(credentials);
    hub = await startTestHub({
      env: {
        MODELHUB_IDENTIFIERS: 'datacite',
        MODELHUB_DATACITE_URL: standIn.url,
        MODELHUB_DATACITE_PREFIX: credentials.prefix,
        MODELHUB_DATACITE_REPOSITORY: credentials.repositoryId,
        MODELHUB_DATACITE_PASSWORD: credentials.password,
        MODELHUB_IDENTIFIER_RETRY_SECONDS: '0.3',
        MODELHUB_PUBLIC_URL: PUBLIC_URL,
      },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await standIn?.close();
  });

  it('publishes a public servable with a findable DOI and its concept DOI', async () => {
    const { task } = await publishAndWait(hub.url, metadata('curie', 'polonium'), model);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    expect(task.log!.some((line) => line.includes('register: identifier 10.5072/modelhub.curie.polonium.v1 findable')), task.log!.join('\n')).toBe(true);
    expect(standIn.dois.get('10.5072/modelhub.curie.polonium.v1')?.state).toBe('findable');
    expect(standIn.dois.get('10.5072/modelhub.curie.polonium.v1')?.attributes.url).toBe(`${PUBLIC_URL}/id/10.5072/modelhub.curie.polonium.v1`);
    expect(standIn.dois.get('10.5072/modelhub.curie.polonium.all')?.state).toBe('findable');
    const resolved = await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('10.5072/modelhub.curie.polonium.v1')}`);
    expect(resolved.body).toMatchObject({ state: 'findable', servable: 'curie/polonium', version: 1 });
    expect(standIn.violations).toEqual([]);
  });

  it('still publishes while DataCite refuses: the identifier is pending with the reason, then retried and registered', async () => {
    standIn.mode = 'refuse';
    const { task } = await publishAndWait(hub.url, metadata('curie', 'polonium'), model);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    expect(task.log!.find((line) => line.includes('modelhub.curie.polonium.v2 pending'))).toMatch(/503/);
    const doi = encodeURIComponent('10.5072/modelhub.curie.polonium.v2');
    const pending = await getJson(`${hub.url}/api/v1/identifiers/${doi}`);
    expect(pending.body).toMatchObject({ state: 'pending', last_error: expect.stringMatching(/DataCite refused .* 503/) });
    const page = await get(`${hub.url}/id/10.5072/modelhub.curie.polonium.v2`, 'text/html');
    expect(page.text).toContain('not yet registered');
    standIn.mode = 'ok';
    await expect.poll(async () => (await getJson(`${hub.url}/api/v1/identifiers/${doi}`)).body.state, { timeout: 10_000, interval: 100 }).toBe('findable');
    expect(standIn.dois.get('10.5072/modelhub.curie.polonium.v2')!.attributes.relatedIdentifiers).toContainEqual({
      relatedIdentifier: '10.5072/modelhub.curie.polonium.v1', relatedIdentifierType: 'DOI', relationType: 'IsNewVersionOf',
    });
    await expect.poll(() => standIn.dois.get('10.5072/modelhub.curie.polonium.v1')!.attributes.relatedIdentifiers.map((r: { relationType: string }) => r.relationType), { timeout: 10_000 })
      .toContain('IsPreviousVersionOf');
    expect(standIn.violations).toEqual([]);
  });

  it('still publishes while DataCite is unreachable, and registers the DOI when it is back', async () => {
    await standIn.stop();
    const { task } = await publishAs(hub.url, metadata('curie', 'thorium', { visibility: 'private' }), await tokenFor(hub, 'curie'));
    expect(task.status).toBe('SUCCEEDED');
    expect(task.log!.find((line) => line.includes('modelhub.curie.thorium.v1 pending'))).toMatch(/cannot be reached/);
    await standIn.resume();
    await expect.poll(() => standIn.dois.get('10.5072/modelhub.curie.thorium.v1')?.state, { timeout: 10_000, interval: 100 }).toBe('draft');
  });

  it('hides the DOI on withdrawal and serves the citation with the DOI', async () => {
    const xml = await get(`${hub.url}/api/v1/servables/curie/polonium/versions/1/citation`, 'application/vnd.datacite.datacite+xml');
    expect(xml.text).toContain('<identifier identifierType="DOI">10.5072/modelhub.curie.polonium.v1</identifier>');
    const bibtex = (await get(`${hub.url}/api/v1/servables/curie/polonium/versions/1/citation?format=bibtex`)).text;
    expect(bibtex).toMatch(/^@misc\{/);
    expect(((await Cite.async(bibtex)).data[0] as Record<string, unknown>).DOI).toBe('10.5072/modelhub.curie.polonium.v1');
    expect((await fetch(`${hub.url}/api/v1/servables/curie/polonium/versions/1`, { method: 'DELETE' })).status).toBe(200);
    await expect.poll(() => standIn.dois.get('10.5072/modelhub.curie.polonium.v1')!.state, { timeout: 10_000, interval: 100 }).toBe('registered');
    expect(standIn.violations).toEqual([]);
  });
});
