/**
 * The contract every AuditStore adapter passes, through the AuditLog service above it: events are
 * appended and listed newest first with filters and paging, refusals are aggregated per client and
 * minute (two rows for a flood), and events are pruned by age. `makeStorage` gives empty storage;
 * its `open` may be called again to reopen the same storage (as a restarted hub would).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditStore } from '../../schemas/ports/audit-store.ts';
import { AuditLog, type AuditLogOptions } from '../../hub-server/adapters/audit-log.ts';

export type MakeAuditStorage = () => Promise<{ open: () => Promise<AuditStore>; cleanup: () => Promise<void> }>;

export function describeAuditStoreContract(adapter: string, makeStorage: MakeAuditStorage): void {
  describe(`AuditStore contract (${adapter})`, () => {
    let storage: Awaited<ReturnType<MakeAuditStorage>>;
    let clock: number;
    const now = () => clock;
    const errors: unknown[] = [];
    const open = async (options: AuditLogOptions = {}) => new AuditLog(await storage.open(), { now, onError: (error) => errors.push(error), ...options });

    beforeEach(async () => {
      storage = await makeStorage();
      clock = Date.parse('2026-06-01T12:00:00.000Z');
      errors.length = 0;
    });
    afterEach(async () => {
      await storage.cleanup();
      expect(errors).toEqual([]);
    });

    it('appends and lists newest first, filtered by action and actor, paged by seq and limit', async () => {
      const log = await open();
      log.record({ action: 'publish', actor: 'alice', token_id: 'tok_1', target: 'alice/m@1', detail: { visibility: 'private' } });
      log.record({ action: 'denied', actor: 'anonymous', target: 'POST /api/v1/servables', status: 401 });
      log.record({ action: 'token.create', actor: 'local', target: 'tok_2' });
      const all = await log.list();
      expect(all.map((e) => e.action)).toEqual(['token.create', 'denied', 'publish']);
      expect(all[0]!.seq).toBeGreaterThan(all[1]!.seq);
      expect(all[2]).toEqual({ seq: all[2]!.seq, at: '2026-06-01T12:00:00.000Z', action: 'publish', actor: 'alice', token_id: 'tok_1', target: 'alice/m@1', detail: { visibility: 'private' } });
      expect((await log.list({ action: 'denied' })).map((e) => e.status)).toEqual([401]);
      expect(await log.list({ actor: 'alice' })).toHaveLength(1);
      expect((await log.list({ before: all[1]!.seq })).map((e) => e.action)).toEqual(['publish']);
      expect(await log.list({ limit: 1 })).toHaveLength(1);
      await log.close();
    });

    it('writes 2,000 refusals from one client in a minute as two rows, the second counting the rest', async () => {
      const audit = await open();
      for (let i = 0; i < 2000; i += 1) {
        audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip: '10.0.0.7', target: `GET /api/v1/servables/x${i % 7}` });
        clock += 20; // 2,000 requests in 40 s
      }
      expect(await audit.list({ limit: 1000 })).toHaveLength(1);
      clock += 60_000;
      audit.flush();
      const rows = await audit.list({ limit: 1000 });
      expect(rows).toHaveLength(2);
      expect(rows[1]).toMatchObject({ action: 'denied', status: 401, ip: '10.0.0.7', target: 'GET /api/v1/servables/x0' });
      expect(rows[0]!.detail).toMatchObject({ repeated: 1999, from: '2026-06-01T12:00:00.000Z', to: '2026-06-01T12:01:00.000Z' });
      expect((rows[0]!.detail as { targets: string[] }).targets).toHaveLength(5);
      await audit.close();
    });

    it('keeps clients, actors and statuses apart, starts a new window each minute, and writes other events at once', async () => {
      const audit = await open();
      for (const ip of ['10.0.0.1', '10.0.0.2']) for (let i = 0; i < 3; i += 1) audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip });
      audit.record({ action: 'denied', actor: 'carol', status: 403, ip: '10.0.0.1' });
      audit.record({ action: 'publish', actor: 'alice', target: 'alice/m@1' });
      audit.record({ action: 'publish', actor: 'alice', target: 'alice/m@2' });
      expect((await audit.list()).map((e) => `${e.action}:${e.ip ?? ''}:${e.actor}`)).toEqual([
        'publish::alice',
        'publish::alice',
        'denied:10.0.0.1:carol',
        'denied:10.0.0.2:anonymous',
        'denied:10.0.0.1:anonymous',
      ]);
      clock += 61_000;
      // The next refusal of a client opens a new window, after the summary of the old one.
      audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip: '10.0.0.1' });
      const [fresh, summary] = await audit.list({ limit: 2 });
      expect(summary).toMatchObject({ ip: '10.0.0.1', detail: { repeated: 2 } });
      expect(fresh).toMatchObject({ ip: '10.0.0.1' });
      expect(fresh!.detail).toBeUndefined();
      await audit.close();
      // Closing wrote the summary of 10.0.0.2's window.
      const reopened = await open();
      expect((await reopened.list({ actor: 'anonymous' })).filter((e) => e.ip === '10.0.0.2').map((e) => e.detail)).toEqual([
        expect.objectContaining({ repeated: 2 }),
        undefined,
      ]);
      await reopened.close();
    });

    it('prunes events older than the retention, at open and on demand', async () => {
      const audit = await open({ retentionDays: 30 });
      audit.record({ action: 'publish', actor: 'alice', target: 'alice/old@1' });
      clock += 20 * 86_400_000;
      audit.record({ action: 'publish', actor: 'alice', target: 'alice/newer@1' });
      clock += 15 * 86_400_000;
      await audit.list(); // the writes have landed
      expect(await audit.prune()).toBe(1);
      expect((await audit.list()).map((e) => e.target)).toEqual(['alice/newer@1']);
      await audit.close();
      clock += 20 * 86_400_000;
      const later = await open({ retentionDays: 30 });
      expect(await later.list()).toEqual([]);
      await later.close();
    });
  });
}
