/**
 * The pending-identifier retry across replicas: identifiers left pending while DataCite refused
 * (the local stand-in of its REST API: DataCite cannot be reached from here) are retried by two
 * replicas at once, each with its own registry pool and work locks on one database, and each
 * identifier is written to DataCite by one of them, once.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DataciteIdentifierMinter } from '../../hub-server/adapters/datacite-identifier-minter.ts';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresRegistry } from '../../hub-server/adapters/postgres-registry.ts';
import { PostgresWorkLocks } from '../../hub-server/adapters/postgres-work-locks.ts';
import { IdentifierSync, versionRelations } from '../../hub-server/use-cases/identifiers.ts';
import { startDataciteStandIn, type DataciteStandIn } from '../fixtures/datacite-stand-in.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';
import { publishedDocument } from './metadata-fixtures.ts';

const PREFIX = '10.5072';
const CREDENTIALS = { repositoryId: 'MODELHUB.TEST', password: 'stand-in-secret' };

interface Replica {
  registry: PostgresRegistry;
  locks: PostgresWorkLocks;
  sync: IdentifierSync;
}

describePostgres('identifier retry across replicas (DataCite stand-in)', () => {
  let standIn: DataciteStandIn;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  const replicas: Replica[] = [];

  const openReplica = async (): Promise<Replica> => {
    const db = PostgresDatabase.open(schema.url);
    const registry = await PostgresRegistry.open(db);
    const locks = PostgresWorkLocks.open(db);
    await db.close(); // the registry and the locks hold their shares
    const minter = new DataciteIdentifierMinter({ url: standIn.url, prefix: PREFIX, ...CREDENTIALS, publicUrl: 'https://hub.example.org/', timeoutMs: 2000 });
    const replica = { registry, locks, sync: new IdentifierSync({ registry, minter, locks }) };
    replicas.push(replica);
    return replica;
  };

  beforeEach(async () => {
    standIn = await startDataciteStandIn({ prefix: PREFIX, ...CREDENTIALS });
    schema = await freshSchema();
  });
  afterEach(async () => {
    for (const replica of replicas.splice(0)) {
      await replica.sync.stop();
      await replica.registry.close();
      await replica.locks.close();
    }
    await standIn.close();
    await schema.drop();
  });

  it('pushes each pending identifier once, whichever replica retries first', async () => {
    const first = await openReplica();
    const second = await openReplica();
    standIn.mode = 'refuse';
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const name of names) {
      const { registry, sync } = first;
      const version = await registry.reserveVersion('alice', name);
      const document = publishedDocument({ owner: 'alice', name, version, title: `Model ${name}` });
      const minter = new DataciteIdentifierMinter({ url: standIn.url, prefix: PREFIX, ...CREDENTIALS, publicUrl: 'https://hub.example.org/' });
      const minted = await minter.mint(document);
      document.hub.identifier = minted.identifier;
      document.datacite.identifier = { identifier: minted.identifier, identifierType: minted.identifierType };
      document.datacite.relatedIdentifiers = await versionRelations(registry, minter, document, minted.conceptIdentifier);
      const at = new Date().toISOString();
      await registry.putIdentifier({ identifier: minted.identifier, owner: 'alice', name, version, state: minted.state, created_at: at });
      await registry.putIdentifier({ identifier: minted.conceptIdentifier!, owner: 'alice', name, state: minted.state, created_at: at });
      await registry.commitVersion(document);
      await sync.syncServable('alice', name);
    }
    expect(await first.registry.listIdentifiers({ state: 'pending' })).toHaveLength(names.length * 2);

    standIn.mode = 'ok';
    standIn.requests.length = 0;
    const outcomes = (await Promise.all([first.sync.retryPending(), second.sync.retryPending(), first.sync.retryPending(), second.sync.retryPending()])).flat();
    expect(await first.registry.listIdentifiers({ state: 'pending' })).toEqual([]);
    // Each identifier was registered by exactly one retry, and written to DataCite once.
    expect(outcomes.map((o) => o.identifier).sort()).toEqual(names.flatMap((n) => [`${PREFIX}/modelhub.alice.${n}.all`, `${PREFIX}/modelhub.alice.${n}.v1`]).sort());
    // A create is POST /dois with the DOI in the body; an update PUT /dois/{doi}.
    const writes = standIn.requests.filter((r) => r.method !== 'GET').map((r) => `${(r.body as { data?: { attributes?: { doi?: string } } } | undefined)?.data?.attributes?.doi ?? r.path}`);
    expect(writes.length).toBe(names.length * 2);
    expect(new Set(writes).size).toBe(writes.length);
    expect(standIn.violations).toEqual([]);
  });
});
