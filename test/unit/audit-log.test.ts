/**
 * The audit log stays bounded: refusals are aggregated per client and minute, and events are pruned
 * by age. A real SQLite file in a temporary folder, a controllable clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../hub-server/adapters/audit-log.ts';

describe('AuditLog', () => {
  let dir: string;
  let clock: number;
  const now = () => clock;
  const open = (options: Parameters<typeof AuditLog.open>[1] = {}) => AuditLog.open(path.join(dir, 'audit.db'), { now, ...options });

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'modelhub-audit-'));
    clock = Date.parse('2026-06-01T12:00:00.000Z');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes 2,000 refusals from one client in a minute as two rows, the second counting the rest', () => {
    const audit = open();
    for (let i = 0; i < 2000; i += 1) {
      audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip: '10.0.0.7', target: `GET /api/v1/servables/x${i % 7}` });
      clock += 20; // 2,000 requests in 40 s
    }
    expect(audit.list({ limit: 1000 })).toHaveLength(1);
    clock += 60_000;
    audit.flush();
    const rows = audit.list({ limit: 1000 });
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ action: 'denied', status: 401, ip: '10.0.0.7', target: 'GET /api/v1/servables/x0' });
    expect(rows[0]!.detail).toMatchObject({ repeated: 1999, from: '2026-06-01T12:00:00.000Z', to: '2026-06-01T12:01:00.000Z' });
    expect((rows[0]!.detail as { targets: string[] }).targets).toHaveLength(5);
    audit.close();
  });

  it('keeps clients, actors and statuses apart, starts a new window each minute, and writes other events at once', () => {
    const audit = open();
    for (const ip of ['10.0.0.1', '10.0.0.2']) for (let i = 0; i < 3; i += 1) audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip });
    audit.record({ action: 'denied', actor: 'carol', status: 403, ip: '10.0.0.1' });
    audit.record({ action: 'publish', actor: 'alice', target: 'alice/m@1' });
    audit.record({ action: 'publish', actor: 'alice', target: 'alice/m@2' });
    expect(audit.list().map((e) => `${e.action}:${e.ip ?? ''}:${e.actor}`)).toEqual([
      'publish::alice',
      'publish::alice',
      'denied:10.0.0.1:carol',
      'denied:10.0.0.2:anonymous',
      'denied:10.0.0.1:anonymous',
    ]);
    clock += 61_000;
    // The next refusal of a client opens a new window, after the summary of the old one.
    audit.record({ action: 'denied', actor: 'anonymous', status: 401, ip: '10.0.0.1' });
    const [fresh, summary] = audit.list({ limit: 2 });
    expect(summary).toMatchObject({ ip: '10.0.0.1', detail: { repeated: 2 } });
    expect(fresh).toMatchObject({ ip: '10.0.0.1' });
    expect(fresh!.detail).toBeUndefined();
    audit.close();
    // Closing wrote the summary of 10.0.0.2's window.
    const reopened = open();
    expect(reopened.list({ actor: 'anonymous' }).filter((e) => e.ip === '10.0.0.2').map((e) => e.detail)).toEqual([
      expect.objectContaining({ repeated: 2 }),
      undefined,
    ]);
    reopened.close();
  });

  it('prunes events older than the retention, at open and on demand', () => {
    const audit = open({ retentionDays: 30 });
    audit.record({ action: 'publish', actor: 'alice', target: 'alice/old@1' });
    clock += 20 * 86_400_000;
    audit.record({ action: 'publish', actor: 'alice', target: 'alice/newer@1' });
    clock += 15 * 86_400_000;
    expect(audit.prune()).toBe(1);
    expect(audit.list().map((e) => e.target)).toEqual(['alice/newer@1']);
    audit.close();
    clock += 20 * 86_400_000;
    const later = open({ retentionDays: 30 });
    expect(later.list()).toEqual([]);
    later.close();
  });
});
