/**
 * The contracts of the compute-endpoint store, the stored-run (provenance) store and the
 * reproducibility store, which every adapter (embedded SQLite, PostgreSQL) passes. Each `make*`
 * gives a fresh, empty store and a cleanup.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointStore } from '../../schemas/ports/endpoint-store.ts';
import type { CheckRecord, ReproducibilityStore, StoredExample } from '../../schemas/ports/reproducibility-store.ts';
import type { RunStore, StoredRun } from '../../schemas/ports/run-store.ts';

type Make<T> = () => Promise<{ store: T; cleanup: () => Promise<void> }>;

function withStore<T extends { close(): Promise<void> }>(make: Make<T>): () => T {
  let store: T;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await make());
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });
  return () => store;
}

export function describeEndpointStoreContract(adapter: string, make: Make<EndpointStore>): void {
  describe(`EndpointStore contract (${adapter})`, () => {
    const store = withStore(make);

    it('registers an endpoint with a token of its own; the token finds it, a made-up one does not', async () => {
      const { endpoint, token } = await store().register({ owner: 'alice', name: 'laptop', owner_groups: ['lab'], executor: 'local', resources: { cpus: 4 } });
      expect(token).toMatch(/^mhe_[A-Za-z0-9_-]{43}$/);
      expect(endpoint).toMatchObject({ owner: 'alice', name: 'laptop', owner_groups: ['lab'], executor: 'local', resources: { cpus: 4 }, shared_with: { users: [], groups: [] } });
      expect(endpoint.last_seen_at).toBeUndefined();
      expect(Number.isNaN(Date.parse(endpoint.created_at))).toBe(false);
      expect(await store().get('alice', 'laptop')).toEqual(endpoint);
      expect(await store().byToken(token)).toEqual(endpoint);
      expect(await store().byToken(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
      expect(await store().byToken('mh_not-an-endpoint-token')).toBeUndefined();
      expect(await store().get('alice', 'desktop')).toBeUndefined();
    });

    it('registering again updates it, keeps its creation time and revokes the old token', async () => {
      const first = await store().register({ owner: 'alice', name: 'cluster', owner_groups: [], executor: 'local', resources: {} });
      const second = await store().register({
        owner: 'alice',
        name: 'cluster',
        owner_groups: ['astro'],
        executor: 'slurm',
        resources: { partition: 'debug', workers: 2 },
        shared_with: { users: ['bob'], groups: ['lab'] },
      });
      expect(second.token).not.toBe(first.token);
      expect(await store().byToken(first.token)).toBeUndefined();
      expect(second.endpoint).toMatchObject({ executor: 'slurm', owner_groups: ['astro'], resources: { partition: 'debug', workers: 2 }, shared_with: { users: ['bob'], groups: ['lab'] } });
      expect(second.endpoint.created_at).toBe(first.endpoint.created_at);
      expect((await store().byToken(second.token))?.name).toBe('cluster');
    });

    it('lists by owner and name, all or one owner\'s; records heartbeats; deletes', async () => {
      for (const [owner, name] of [['bob', 'b'], ['alice', 'z'], ['alice', 'a'], ['Carol', 'x']] as const) {
        await store().register({ owner, name, owner_groups: [], executor: 'local', resources: {} });
      }
      expect((await store().list()).map((e) => `${e.owner}/${e.name}`)).toEqual(['Carol/x', 'alice/a', 'alice/z', 'bob/b']);
      expect((await store().list({ owner: 'alice' })).map((e) => e.name)).toEqual(['a', 'z']);
      await store().seen('alice', 'a', '2026-12-05T10:00:00.000Z');
      expect(await store().get('alice', 'a')).toMatchObject({ last_seen_at: '2026-12-05T10:00:00.000Z', resources: {} });
      await store().seen('alice', 'a', '2026-12-05T10:01:00.000Z', { cpus: 8, gpus: 1 });
      expect(await store().get('alice', 'a')).toMatchObject({ last_seen_at: '2026-12-05T10:01:00.000Z', resources: { cpus: 8, gpus: 1 } });
      // A heartbeat for an endpoint deleted meanwhile changes nothing.
      await store().seen('nobody', 'none', '2026-12-05T10:02:00.000Z');
      expect(await store().delete('alice', 'a')).toBe(true);
      expect(await store().delete('alice', 'a')).toBe(false);
      expect(await store().get('alice', 'a')).toBeUndefined();
      expect((await store().list({ owner: 'alice' })).map((e) => e.name)).toEqual(['z']);
    });
  });
}

const storedRun = (runId: string, output: unknown, storedAt = '2026-12-05T10:00:00.000Z'): StoredRun => ({
  record: {
    run_id: runId,
    servable: 'alice/mlp',
    version: 3,
    identifier: 'modelhub:alice/mlp/3',
    method: 'run',
    files: [{ path: 'm.onnx', sha256: 'a'.repeat(64), size: 123 }],
    runtime: { type: 'onnx', name: 'onnxruntime-node', version: '1.20.0' },
    hub: { name: 'modelhub', version: '0.1.0', node: 'v20.0.0' },
    endpoint: null,
    started_at: storedAt,
    duration_ms: 1.5,
    inputs_sha256: 'b'.repeat(64),
    parameters_sha256: 'c'.repeat(64),
    outputs_sha256: 'd'.repeat(64),
  },
  // Key order and number spelling as given: a store keeps JSON as it was written.
  inputs: { z: [[0.5, -0.25, 1e-7]], a: 'text' },
  parameters: { temperature: 0.1 },
  output,
  caller: 'alice',
  stored_at: storedAt,
});

export function describeRunStoreContract(adapter: string, make: Make<RunStore>): void {
  describe(`RunStore contract (${adapter})`, () => {
    const store = withStore(make);

    it('stores a run and reads it back as it was given', async () => {
      const run = storedRun('run-1', { y: [[0.1, 0.2, 0.7]] });
      await store().put(run);
      const read = await store().get('run-1');
      expect(read).toEqual(run);
      expect(JSON.stringify(read!.inputs)).toBe(JSON.stringify(run.inputs));
      expect(await store().get('run-2')).toBeUndefined();
    });

    it('keeps the first record of a run_id stored twice, and stores anonymous runs with null values', async () => {
      await store().put(storedRun('run-1', 'first'));
      await store().put(storedRun('run-1', 'second', '2026-12-05T11:00:00.000Z'));
      expect((await store().get('run-1'))?.output).toBe('first');
      await store().put({ ...storedRun('run-anon', undefined), inputs: undefined, caller: null });
      expect(await store().get('run-anon')).toMatchObject({ inputs: null, output: null, caller: null });
    });
  });
}

const example = (name: string, expected: unknown): StoredExample => ({ name, method: 'run', inputs: [[1, 2]], expected, tolerance: { y: 1e-6 }, source: 'metadata' });
const check = (version: number, status: CheckRecord['status'], at: string): CheckRecord => ({
  owner: 'alice',
  name: 'mlp',
  version,
  status,
  summary: `${status} at ${at}`,
  checked_at: at,
  reason: 'manual',
  runtime: 'onnxruntime-node 1.20.0',
  examples: [{ example: 'first', status, ...(status === 'drifted' ? { output: 'y', difference: 0.25 } : {}) }],
});

export function describeReproducibilityStoreContract(adapter: string, make: Make<ReproducibilityStore>): void {
  describe(`ReproducibilityStore contract (${adapter})`, () => {
    const store = withStore(make);

    it('stores, replaces and lists the examples of versions', async () => {
      expect(await store().getExamples('alice', 'mlp', 1)).toEqual([]);
      await store().putExamples('alice', 'mlp', 1, [example('first', { y: [[0.1]] })]);
      await store().putExamples('alice', 'mlp', 1, [example('first', { y: [[0.2]] }), example('second', 3)]);
      await store().putExamples('alice', 'mlp', 2, []);
      await store().putExamples('Bob', 'cnn', 4, [example('only', 'x')]);
      expect(await store().getExamples('alice', 'mlp', 1)).toEqual([example('first', { y: [[0.2]] }), example('second', 3)]);
      expect(await store().getExamples('alice', 'mlp', 3)).toEqual([]);
      // Versions whose examples are an empty list are left out.
      expect(await store().versionsWithExamples()).toEqual([
        { owner: 'Bob', name: 'cnn', version: 4 },
        { owner: 'alice', name: 'mlp', version: 1 },
      ]);
    });

    it('answers the check recorded last for each version', async () => {
      expect(await store().latestCheck('alice', 'mlp', 1)).toBeUndefined();
      await store().recordCheck(check(1, 'reproducible', '2026-12-05T10:00:00.000Z'));
      await store().recordCheck(check(2, 'fails', '2026-12-05T10:30:00.000Z'));
      // Recorded later, even with an earlier clock (another replica's): the latest is the last recorded.
      await store().recordCheck(check(1, 'drifted', '2026-12-05T09:00:00.000Z'));
      expect(await store().latestCheck('alice', 'mlp', 1)).toEqual(check(1, 'drifted', '2026-12-05T09:00:00.000Z'));
      expect(await store().latestCheck('alice', 'mlp', 2)).toEqual(check(2, 'fails', '2026-12-05T10:30:00.000Z'));
      expect(await store().latestCheck('alice', 'other', 1)).toBeUndefined();
    });
  });
}
