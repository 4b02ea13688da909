/**
 * The contract every ActionStore adapter passes (SQLite in the data folder, PostgreSQL shared by
 * replicas): actions stored and updated whole, found by id and by their idempotency key, listed by
 * status oldest first, released with their log when their time has come, logs paged in order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionRecord, ActionStore } from '../../schemas/ports/action-store.ts';
import { hubErrorCode } from '../helpers/rejection.ts';

export type MakeActionStore = () => Promise<{ store: ActionStore; cleanup: () => Promise<void>; reopen?: (store: ActionStore) => Promise<ActionStore> }>;

const record = (id: string, extra: Partial<ActionRecord> = {}): ActionRecord => ({
  actionId: id,
  provider: 'inference',
  creator: 'urn:modelhub:user:alice',
  requestId: `request-${id}`,
  requestHash: 'a'.repeat(64),
  request: { request_id: `request-${id}`, body: { servable: 'alice/model', inputs: [[1, 2]] }, label: 'a label' },
  viewer: { user: 'alice', groups: ['lab'] },
  status: 'ACTIVE',
  displayStatus: 'Queued',
  details: { servable: 'alice/model' },
  startTime: '2026-01-01T00:00:00.000Z',
  completionTime: null,
  releaseAfterSeconds: 3600,
  deadline: Date.parse('2030-01-01T00:00:00.000Z'),
  attempts: 0,
  ...extra,
});

export function describeActionStoreContract(adapter: string, makeStore: MakeActionStore): void {
  describe(`ActionStore contract (${adapter})`, () => {
    let store: ActionStore;
    let cleanup: () => Promise<void>;
    let reopen: ((store: ActionStore) => Promise<ActionStore>) | undefined;
    beforeEach(async () => {
      ({ store, cleanup, reopen } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('stores an action whole and finds it by id and by its request', async () => {
      const action = record('a1');
      await store.insert(action);
      expect(await store.get('a1')).toEqual(action);
      expect(await store.findByRequest('inference', 'urn:modelhub:user:alice', 'request-a1')).toEqual(action);
      expect(await store.findByRequest('servables/alice/model', 'urn:modelhub:user:alice', 'request-a1')).toBeUndefined();
      expect(await store.findByRequest('inference', 'urn:modelhub:user:bob', 'request-a1')).toBeUndefined();
      expect(await store.get('missing')).toBeUndefined();
    });

    it('refuses a second action under the same request, or the same id (CONFLICT)', async () => {
      await store.insert(record('a1'));
      expect(await hubErrorCode(store.insert(record('a2', { requestId: 'request-a1' })))).toBe('MODELHUB_CONFLICT');
      expect(await hubErrorCode(store.insert(record('a1', { requestId: 'other' })))).toBe('MODELHUB_CONFLICT');
      // Another creator may use the same request_id.
      await store.insert(record('a3', { requestId: 'request-a1', creator: 'urn:modelhub:user:bob' }));
    });

    it('updates the status, details, completion and attempts', async () => {
      const action = record('a1');
      await store.insert(action);
      const done = { ...action, status: 'SUCCEEDED' as const, displayStatus: 'Succeeded', details: { output: [[0.5]] }, completionTime: '2026-01-01T00:01:00.000Z', attempts: 2 };
      await store.update(done);
      expect(await store.get('a1')).toEqual(done);
    });

    it('lists by status and provider, oldest first', async () => {
      await store.insert(record('late', { startTime: '2026-01-03T00:00:00.000Z' }));
      await store.insert(record('early', { startTime: '2026-01-01T00:00:00.000Z', status: 'INACTIVE' }));
      await store.insert(record('done', { startTime: '2026-01-02T00:00:00.000Z', status: 'FAILED', completionTime: '2026-01-02T00:00:01.000Z' }));
      await store.insert(record('other', { provider: 'servables/alice/model', startTime: '2026-01-04T00:00:00.000Z' }));
      expect((await store.listByStatus(['ACTIVE', 'INACTIVE'])).map((a) => a.actionId)).toEqual(['early', 'late', 'other']);
      expect((await store.listByStatus(['ACTIVE', 'INACTIVE', 'SUCCEEDED', 'FAILED'], 'inference')).map((a) => a.actionId)).toEqual(['early', 'done', 'late']);
      expect(await store.listByStatus(['SUCCEEDED'])).toEqual([]);
    });

    it('pages the log in order and deletes it with its action', async () => {
      await store.insert(record('a1'));
      await store.insert(record('a2', { requestId: 'r2' }));
      for (let i = 0; i < 5; i += 1) await store.appendLog('a1', { time: `t${i}`, code: `Step${i}`, description: `step ${i}`, ...(i === 2 ? { details: { attempt: 2 } } : {}) });
      await store.appendLog('a2', { time: 't', code: 'Other', description: 'other action' });
      const first = await store.readLog('a1', 0, 2);
      expect(first.entries).toEqual([
        { time: 't0', code: 'Step0', description: 'step 0' },
        { time: 't1', code: 'Step1', description: 'step 1' },
      ]);
      expect(first.more).toBe(true);
      const second = await store.readLog('a1', first.last, 10);
      expect(second.entries.map((e) => e.code)).toEqual(['Step2', 'Step3', 'Step4']);
      expect(second.entries[0]!.details).toEqual({ attempt: 2 });
      expect(second.more).toBe(false);
      expect(await store.readLog('a1', second.last, 10)).toEqual({ entries: [], last: second.last, more: false });
      await store.delete('a1');
      expect(await store.get('a1')).toBeUndefined();
      expect((await store.readLog('a1', 0, 10)).entries).toEqual([]);
      expect((await store.readLog('a2', 0, 10)).entries).toHaveLength(1);
      await store.delete('a1'); // twice is nothing
    });

    it('releases completed actions whose release time has passed, and no other', async () => {
      const completed = (id: string, at: string, seconds: number) =>
        record(id, { requestId: id, status: 'SUCCEEDED', completionTime: at, releaseAfterSeconds: seconds });
      await store.insert(completed('old', '2026-01-01T00:00:00.000Z', 60));
      await store.insert(completed('fresh', '2026-01-01T00:00:00.000Z', 3600));
      await store.insert(record('running', { requestId: 'running' }));
      await store.appendLog('old', { time: 't', code: 'Done', description: 'done' });
      expect(await store.releaseExpired(Date.parse('2026-01-01T00:01:00.000Z'))).toBe(1);
      expect(await store.get('old')).toBeUndefined();
      expect(await store.get('fresh')).toBeDefined();
      expect(await store.get('running')).toBeDefined();
      // An update that completes an action sets its release time too.
      const running = (await store.get('running'))!;
      await store.update({ ...running, status: 'FAILED', completionTime: '2026-01-01T00:00:00.000Z', releaseAfterSeconds: 1 });
      expect(await store.releaseExpired(Date.parse('2026-01-01T00:00:01.000Z'))).toBe(1);
      expect(await store.get('running')).toBeUndefined();
    });

    it('keeps actions across closing and reopening', async (context) => {
      if (!reopen) context.skip();
      await store.insert(record('a1'));
      await store.appendLog('a1', { time: 't', code: 'ActionStarted', description: 'started' });
      store = await reopen!(store);
      expect(await store.get('a1')).toEqual(record('a1'));
      expect((await store.readLog('a1', 0, 10)).entries.map((e) => e.code)).toEqual(['ActionStarted']);
    });
  });
}
