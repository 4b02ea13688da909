/**
 * The DataCite minter and the identifier sync against a local stand-in of the DataCite REST API.
 * DataCite itself cannot be reached from these machines: the stand-in checks each request against
 * the documented JSON:API shape and basic auth, and keeps DOI states as DataCite does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataciteIdentifierMinter, dataciteDoi, parseDataciteDoi } from '../../hub-server/adapters/datacite-identifier-minter.ts';
import { SqliteRegistry } from '../../hub-server/adapters/sqlite-registry.ts';
import { IdentifierSync, previousIdentifiers, versionRelations } from '../../hub-server/use-cases/identifiers.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';
import { startDataciteStandIn, type DataciteStandIn } from '../fixtures/datacite-stand-in.ts';

const PREFIX = '10.5072';
const CREDENTIALS = { repositoryId: 'MODELHUB.TEST', password: 'stand-in-secret' };

describe('DataCite minter against a local stand-in (DataCite itself cannot be reached from here)', () => {
  let standIn: DataciteStandIn;
  let registry: SqliteRegistry;
  let minter: DataciteIdentifierMinter;
  let sync: IdentifierSync;
  const logged: string[] = [];

  beforeEach(async () => {
    standIn = await startDataciteStandIn({ prefix: PREFIX, ...CREDENTIALS });
    registry = SqliteRegistry.open(':memory:');
    minter = new DataciteIdentifierMinter({ url: standIn.url, prefix: PREFIX, ...CREDENTIALS, publicUrl: 'https://hub.example.org/', timeoutMs: 2000 });
    sync = new IdentifierSync({ registry, minter, log: (line) => logged.push(line) });
    logged.length = 0;
  });
  afterEach(async () => {
    await standIn.close();
    await registry.close();
  });

  /** What the publish pipeline does: reserve, mint, relate, record, commit, then push. */
  async function publish(owner: string, name: string, visibility: 'public' | 'private' = 'public') {
    const version = await registry.reserveVersion(owner, name);
    const document: PublishedMetadata = publishedDocument({
      owner, name, version, visibility, title: `Model ${name} <v${version}> & co`, creators: ['Curie, Marie'], description: 'A model',
    });
    document.datacite.creators[0]!.orcid = '0000-0002-1825-0097';
    const minted = await minter.mint(document);
    document.hub.identifier = minted.identifier;
    document.datacite.identifier = { identifier: minted.identifier, identifierType: minted.identifierType };
    document.datacite.relatedIdentifiers = await versionRelations(registry, minter, document, minted.conceptIdentifier);
    const at = new Date().toISOString();
    await registry.putIdentifier({ identifier: minted.identifier, owner, name, version, state: minted.state, created_at: at });
    await registry.putIdentifier({ identifier: minted.conceptIdentifier!, owner, name, state: minted.state, created_at: at });
    await registry.commitVersion(document);
    const outcomes = await sync.syncServable(owner, name, [minted.identifier, minted.conceptIdentifier!, ...previousIdentifiers(document)]);
    return { document, minted, outcomes };
  }

  it('names versions and the concept with distinct, readable DOIs under the prefix', () => {
    expect(dataciteDoi(PREFIX, 'alice', 'mnist', 3)).toBe('10.5072/modelhub.alice.mnist.v3');
    expect(dataciteDoi(PREFIX, 'alice', 'mnist')).toBe('10.5072/modelhub.alice.mnist.all');
    // A name that looks like a version suffix still cannot collide: the endings differ.
    expect(dataciteDoi(PREFIX, 'alice', 'mnist.v3')).not.toBe(dataciteDoi(PREFIX, 'alice', 'mnist', 3));
    expect(parseDataciteDoi('10.5072/modelhub.alice.mnist.v3.v2')).toEqual({ owner: 'alice', name: 'mnist.v3', version: 2 });
    expect(parseDataciteDoi('10.5072/modelhub.alice.mnist.all')).toEqual({ owner: 'alice', name: 'mnist' });
    expect(parseDataciteDoi('10.5072/other')).toBeUndefined();
  });

  it('mints without talking to DataCite, then registers a findable DOI with a valid JSON:API document', async () => {
    const before = standIn.requests.length;
    const { minted, outcomes } = await publish('alice', 'mnist');
    expect(minted).toEqual({ identifier: '10.5072/modelhub.alice.mnist.v1', identifierType: 'DOI', state: 'pending', conceptIdentifier: '10.5072/modelhub.alice.mnist.all' });
    expect(standIn.requests.length).toBeGreaterThan(before);
    expect(outcomes).toEqual([
      { identifier: '10.5072/modelhub.alice.mnist.v1', state: 'findable' },
      { identifier: '10.5072/modelhub.alice.mnist.all', state: 'findable' },
    ]);
    expect(standIn.violations).toEqual([]);

    const create = standIn.requests.find((r) => r.method === 'POST' && r.body.data.attributes.doi === '10.5072/modelhub.alice.mnist.v1')!;
    expect(create.path).toBe('/dois');
    expect(create.body.data.type).toBe('dois');
    const a = create.body.data.attributes;
    expect(a).toMatchObject({
      event: 'publish',
      titles: [{ title: 'Model mnist <v1> & co' }],
      publisher: 'modelhub',
      publicationYear: 2026,
      types: { resourceTypeGeneral: 'Model' },
      url: 'https://hub.example.org/id/10.5072/modelhub.alice.mnist.v1',
      version: '1',
      schemaVersion: 'http://datacite.org/schema/kernel-4',
    });
    expect(a.creators).toEqual([
      {
        name: 'Curie, Marie', nameType: 'Personal', givenName: 'Marie', familyName: 'Curie',
        nameIdentifiers: [{ nameIdentifier: 'https://orcid.org/0000-0002-1825-0097', nameIdentifierScheme: 'ORCID', schemeUri: 'https://orcid.org' }],
      },
    ]);
    expect(a.relatedIdentifiers).toContainEqual({ relatedIdentifier: '10.5072/modelhub.alice.mnist.all', relatedIdentifierType: 'DOI', relationType: 'IsVersionOf' });
    expect(standIn.dois.get('10.5072/modelhub.alice.mnist.all')!.attributes.relatedIdentifiers).toEqual([
      { relatedIdentifier: '10.5072/modelhub.alice.mnist.v1', relatedIdentifierType: 'DOI', relationType: 'HasVersion' },
    ]);
    expect(await registry.getIdentifier('10.5072/modelhub.alice.mnist.v1')).toMatchObject({ state: 'findable' });
  });

  it('links a new version to the previous one both ways and to the concept', async () => {
    await publish('alice', 'mnist');
    const { document } = await publish('alice', 'mnist');
    expect(document.datacite.relatedIdentifiers).toEqual([
      { relatedIdentifier: '10.5072/modelhub.alice.mnist.all', relatedIdentifierType: 'DOI', relationType: 'IsVersionOf' },
      { relatedIdentifier: '10.5072/modelhub.alice.mnist.v1', relatedIdentifierType: 'DOI', relationType: 'IsNewVersionOf' },
    ]);
    const v1 = standIn.dois.get('10.5072/modelhub.alice.mnist.v1')!;
    expect(v1.attributes.relatedIdentifiers).toContainEqual({ relatedIdentifier: '10.5072/modelhub.alice.mnist.v2', relatedIdentifierType: 'DOI', relationType: 'IsPreviousVersionOf' });
    const concept = standIn.dois.get('10.5072/modelhub.alice.mnist.all')!;
    expect(concept.attributes.relatedIdentifiers.map((r: { relatedIdentifier: string }) => r.relatedIdentifier).sort()).toEqual([
      '10.5072/modelhub.alice.mnist.v1', '10.5072/modelhub.alice.mnist.v2',
    ]);
    expect(standIn.requests.some((r) => r.method === 'PUT' && r.path === '/dois/10.5072/modelhub.alice.mnist.v1')).toBe(true);
    expect(standIn.violations).toEqual([]);
  });

  it('keeps a private servable a draft, and hides a findable DOI on withdrawal', async () => {
    await publish('bob', 'secret', 'private');
    expect(standIn.dois.get('10.5072/modelhub.bob.secret.v1')!.state).toBe('draft');
    expect(standIn.dois.get('10.5072/modelhub.bob.secret.all')!.state).toBe('draft');

    await publish('alice', 'gone');
    await registry.withdraw('alice', 'gone', 1, 'a bug in the weights');
    await minter.hide('10.5072/modelhub.alice.gone.v1'); // what the withdraw route calls; the sync listens
    expect(standIn.dois.get('10.5072/modelhub.alice.gone.v1')!.state).toBe('findable');
    await sync.syncServable('alice', 'gone');
    expect(standIn.dois.get('10.5072/modelhub.alice.gone.v1')!.state).toBe('registered');
    expect(standIn.dois.get('10.5072/modelhub.alice.gone.all')!.state).toBe('registered');
    expect(standIn.dois.get('10.5072/modelhub.alice.gone.v1')!.attributes.dates).toContainEqual(expect.objectContaining({ dateType: 'Withdrawn', dateInformation: 'a bug in the weights' }));
    expect(standIn.violations).toEqual([]);
  });

  it('leaves identifiers pending while DataCite refuses, and registers them on retry', async () => {
    standIn.mode = 'refuse';
    const { outcomes } = await publish('alice', 'later');
    expect(outcomes.every((o) => o.state === 'pending')).toBe(true);
    expect(outcomes[0]!.error).toMatch(/DataCite refused GET \/dois\/10\.5072\/modelhub\.alice\.later\.v1 with 503/);
    const record = await registry.getIdentifier('10.5072/modelhub.alice.later.v1');
    expect(record).toMatchObject({ state: 'pending', last_error: expect.stringMatching(/503/) });
    expect(logged.some((l) => l.includes('pending, will retry'))).toBe(true);

    expect((await sync.retryPending()).every((o) => o.state === 'pending')).toBe(true);
    standIn.mode = 'ok';
    const retried = await sync.retryPending();
    expect(retried.map((o) => o.state)).toEqual(['findable', 'findable']);
    expect(await registry.getIdentifier('10.5072/modelhub.alice.later.v1')).toEqual(expect.not.objectContaining({ last_error: expect.anything() }));
    expect(await registry.listIdentifiers({ state: 'pending' })).toEqual([]);
    expect(standIn.violations).toEqual([]);
  });

  it('leaves identifiers pending while DataCite is unreachable, and registers them when it is back', async () => {
    await standIn.stop();
    const { outcomes } = await publish('alice', 'offline');
    expect(outcomes[0]!.error).toMatch(/cannot be reached.*ECONNREFUSED/);
    expect((await registry.listIdentifiers({ state: 'pending' })).map((r) => r.identifier).sort()).toEqual([
      '10.5072/modelhub.alice.offline.all', '10.5072/modelhub.alice.offline.v1',
    ]);
    await standIn.resume();
    sync.start(50);
    await expect.poll(async () => (await registry.getIdentifier('10.5072/modelhub.alice.offline.v1'))?.state, { timeout: 5000 }).toBe('findable');
    await sync.stop();
    expect(standIn.dois.get('10.5072/modelhub.alice.offline.v1')!.state).toBe('findable');
  });

  it('updates instead when a concurrent push created the DOI first (DataCite: "has already been taken")', async () => {
    const attributes = { creators: [{ name: 'Curie, Marie' }], titles: [{ title: 'T' }], publisher: 'modelhub', publicationYear: 2026, types: { resourceTypeGeneral: 'Model' }, url: 'https://hub.example.org/id/x' };
    const states = await Promise.all([1, 2].map(() => minter.push({ identifier: '10.5072/modelhub.x.y.v1', attributes, event: 'publish' })));
    expect(states).toEqual(['findable', 'findable']);
    expect(standIn.requests.filter((r) => r.status === 422)).toHaveLength(1);
    expect(standIn.requests.at(-1)).toMatchObject({ method: 'PUT', path: '/dois/10.5072/modelhub.x.y.v1', status: 200 });
  });

  it('reports wrong credentials as DataCite refusing (401), not as a crash', async () => {
    const wrong = new DataciteIdentifierMinter({ url: standIn.url, prefix: PREFIX, repositoryId: 'MODELHUB.TEST', password: 'wrong', publicUrl: 'https://hub.example.org' });
    await expect(wrong.push({ identifier: '10.5072/modelhub.x.y.v1', attributes: {} })).rejects.toMatchObject({
      code: 'MODELHUB_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/refused GET .* with 401: Bad credentials/),
    });
  });
});
