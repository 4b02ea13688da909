/**
 * The webhook and usage stores behind their ports (docs/webhooks.md, docs/usage.md), the same checks
 * on SQLite and on PostgreSQL: webhooks matched by owner, name and event; deliveries claimed once
 * (a second dispatcher, as another replica, gets none of them while leased), given back, recorded,
 * the webhook set failing and active again; usage added up by day with distinct callers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUsageStore } from '../../hub-server/adapters/sqlite-usage-store.ts';
import { SqliteWebhookStore } from '../../hub-server/adapters/sqlite-webhook-store.ts';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresUsageStore } from '../../hub-server/adapters/postgres-usage-store.ts';
import { PostgresWebhookStore } from '../../hub-server/adapters/postgres-webhook-store.ts';
import type { UsageStore } from '../../schemas/ports/usage-store.ts';
import type { DeliveryRecord, WebhookRecord, WebhookStore } from '../../schemas/ports/webhook-store.ts';
import { describePostgres, freshSchema } from '../helpers/postgres.ts';

const webhook = (id: string, owner: string, name: string | null, events: string[]): WebhookRecord => ({
  id, owner, name, url: `https://example.org/${id}`, events, secret: `secret-${id}`, description: null, created_by: owner, created_at: `2026-12-05T10:00:0${id.length % 10}.000Z`, state: 'active', failing_since: null,
});
const delivery = (id: string, webhookId: string, at: string): DeliveryRecord => ({
  id, webhook_id: webhookId, event: 'servable.published', payload: `{"id":"${id}"}`, state: 'pending', attempts: 0, created_at: at, next_attempt_at: at, last_attempt_at: null, last_status: null, last_error: null, delivered_at: null,
});

function contract(name: string, open: () => Promise<{ webhooks: WebhookStore; second: WebhookStore; usage: UsageStore; close: () => Promise<void> }>) {
  describe(name, () => {
    let stores: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      stores = await open();
    });
    afterAll(async () => {
      await stores?.close();
    });

    it('matches webhooks by owner, servable and event', async () => {
      const { webhooks } = stores;
      await webhooks.create(webhook('a', 'alice', null, ['servable.published', 'drift.detected']));
      await webhooks.create(webhook('bb', 'alice', 'mlp', ['servable.published']));
      await webhooks.create(webhook('ccc', 'bob', null, ['servable.published']));
      expect((await webhooks.matching('alice', 'mlp', 'servable.published')).map((w) => w.id)).toEqual(['a', 'bb']);
      expect((await webhooks.matching('alice', 'other', 'servable.published')).map((w) => w.id)).toEqual(['a']);
      expect((await webhooks.matching('alice', 'mlp', 'drift.detected')).map((w) => w.id)).toEqual(['a']);
      expect(await webhooks.matching('carol', 'mlp', 'servable.published')).toEqual([]);
      expect((await webhooks.get('a'))?.events).toEqual(['servable.published', 'drift.detected']);
      expect((await webhooks.list('alice')).map((w) => w.id).sort()).toEqual(['a', 'bb']);
      expect(await webhooks.list(undefined)).toHaveLength(3);
    });

    it('hands each due delivery to one dispatcher, records attempts and marks the webhook failing and active again', async () => {
      const { webhooks, second } = stores;
      await webhooks.enqueue([delivery('d1', 'a', '2026-12-05T10:00:00.000Z'), delivery('d2', 'a', '2026-12-05T10:00:00.000Z'), delivery('d3', 'bb', '2026-12-05T11:00:00.000Z')]);
      const now = '2026-12-05T10:30:00.000Z';
      const lease = '2026-12-05T10:31:00.000Z';
      const first = await webhooks.claim(now, 10, lease);
      expect(first.map((d) => d.id)).toEqual(['d1', 'd2']);
      // Another replica, at the same time: nothing left for it.
      expect(await second.claim(now, 10, lease)).toEqual([]);
      expect(await webhooks.nextDue()).toBe(lease);
      await webhooks.release(['d2'], now);
      expect((await second.claim(now, 10, lease)).map((d) => d.id)).toEqual(['d2']);

      await webhooks.recordAttempt(first[0]!, { state: 'failed', attempts: 3, at: now, status: 500, error: 'HTTP 500', next_attempt_at: now });
      expect(await webhooks.get('a')).toMatchObject({ state: 'failing', failing_since: now });
      await webhooks.recordAttempt(first[1]!, { state: 'pending', attempts: 1, at: now, status: null, error: 'timeout', next_attempt_at: '2026-12-05T10:40:00.000Z' });
      expect(await webhooks.claim('2026-12-05T10:35:00.000Z', 10, lease)).toEqual([]);
      const retried = await webhooks.claim('2026-12-05T10:40:00.000Z', 10, lease);
      expect(retried.map((d) => [d.id, d.attempts])).toEqual([['d2', 1]]);
      await webhooks.recordAttempt(retried[0]!, { state: 'delivered', attempts: 2, at: '2026-12-05T10:40:01.000Z', status: 204, error: null, next_attempt_at: '2026-12-05T10:40:01.000Z' });
      expect(await webhooks.get('a')).toMatchObject({ state: 'active', failing_since: null });
      const log = await webhooks.deliveries('a', 10);
      expect(log.map((d) => [d.id, d.state, d.attempts, d.last_status])).toEqual([['d2', 'delivered', 2, 204], ['d1', 'failed', 3, 500]]);
      expect(log[0]!.delivered_at).toBe('2026-12-05T10:40:01.000Z');

      // Finished deliveries older than the cut-off go; pending ones stay whatever their age.
      const old = delivery('old', 'bb', '2026-12-01T00:00:00.000Z');
      await webhooks.enqueue([old]);
      expect(await webhooks.prune('2026-12-02T00:00:00.000Z')).toBe(0);
      await webhooks.recordAttempt(old, { state: 'delivered', attempts: 1, at: now, status: 200, error: null, next_attempt_at: now });
      expect(await webhooks.prune('2026-12-02T00:00:00.000Z')).toBe(1);
      expect((await webhooks.deliveries('bb', 10)).map((d) => d.id)).toEqual(['d3']);
      expect((await webhooks.deliveries('a', 10)).map((d) => d.id)).toEqual(['d2', 'd1']);

      expect(await webhooks.delete('a')).toBe(true);
      expect(await webhooks.delete('a')).toBe(false);
      expect(await webhooks.deliveries('a', 10)).toEqual([]);
      expect((await webhooks.claim('2026-12-05T12:00:00.000Z', 10, lease)).map((d) => d.id)).toEqual(['d3']);
      expect(await webhooks.prune('2026-12-06T00:00:00.000Z')).toBe(0);
    });

    it('adds usage up by version and day, counting distinct callers over the range', async () => {
      const { usage } = stores;
      const salt = await usage.salt();
      expect(salt.length).toBeGreaterThan(20);
      expect(await usage.salt()).toBe(salt);
      const base = { owner: 'alice', name: 'mlp', anonymous_runs: 0 };
      await usage.add([{ ...base, version: 1, day: '2026-12-04', runs: 2, errors: 0, total_ms: 4, caller_hashes: ['h1', 'h2'] }]);
      await usage.add([
        { ...base, version: 1, day: '2026-12-05', runs: 3, errors: 1, total_ms: 9, caller_hashes: ['h1'], anonymous_runs: 1 },
        { ...base, version: 1, day: '2026-12-05', runs: 1, errors: 0, total_ms: 1, caller_hashes: ['h1', 'h3'] },
        { ...base, version: 2, day: '2026-12-05', runs: 1, errors: 0, total_ms: 2, caller_hashes: ['h2'] },
      ]);
      expect(await usage.days('alice', 'mlp', '2026-12-01')).toEqual([
        { version: 1, day: '2026-12-04', runs: 2, errors: 0, total_ms: 4, anonymous_runs: 0, distinct_callers: 2 },
        { version: 1, day: '2026-12-05', runs: 4, errors: 1, total_ms: 10, anonymous_runs: 1, distinct_callers: 2 },
        { version: 2, day: '2026-12-05', runs: 1, errors: 0, total_ms: 2, anonymous_runs: 0, distinct_callers: 1 },
      ]);
      expect(await usage.distinctCallers('alice', 'mlp', '2026-12-01')).toBe(3);
      expect(await usage.distinctCallers('alice', 'mlp', '2026-12-05', 1)).toBe(2);
      expect(await usage.days('alice', 'mlp', '2026-12-05', 2)).toHaveLength(1);
      expect(await usage.days('bob', 'mlp', '2026-12-01')).toEqual([]);
    });
  });
}

contract('SQLite webhook and usage stores', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-webhook-stores-'));
  const webhooks = SqliteWebhookStore.open(SqliteWebhookStore.fileIn(dir));
  // Another process on the same file, as a second dispatcher.
  const second = SqliteWebhookStore.open(SqliteWebhookStore.fileIn(dir));
  const usage = SqliteUsageStore.open(SqliteUsageStore.fileIn(dir));
  return {
    webhooks,
    second,
    usage,
    close: async () => {
      await Promise.all([webhooks.close(), second.close(), usage.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describePostgres('PostgreSQL', () => {
  contract('PostgreSQL webhook and usage stores', async () => {
    const schema = await freshSchema();
    const db = PostgresDatabase.open(schema.url);
    const other = PostgresDatabase.open(schema.url);
    const webhooks = await PostgresWebhookStore.open(db);
    const second = await PostgresWebhookStore.open(other);
    const usage = await PostgresUsageStore.open(db);
    await db.close();
    await other.close();
    return {
      webhooks,
      second,
      usage,
      close: async () => {
        await Promise.all([webhooks.close(), second.close(), usage.close()]);
        await schema.drop();
      },
    };
  });
});
