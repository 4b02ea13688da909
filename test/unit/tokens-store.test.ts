/**
 * The token store, the rate limiter's buckets and the audit log on their own: secrets are never
 * stored, expiry and revocation take effect at once (also across two processes sharing the file,
 * as the CLI and the hub do), and the buckets refill at the configured rate.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { TokenBuckets } from '../../hub-server/plugins/rate-limit.ts';
import { expiryOf } from '../../hub-server/routes/tokens.ts';
import { canSeeTask, canView, hasScope, viewerOf } from '../../hub-server/use-cases/access.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { parseExpiry } from '../../hub-server/cli/token-commands.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-tokens-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SqliteTokenStore', () => {
  const file = path.join(dir, 'tokens.db');

  it('keeps only the sha256 of a secret, and verifies it', async () => {
    const store = SqliteTokenStore.open(file);
    const { token, info } = await store.create({ user: 'alice', groups: ['lab', 'lab', 'astro'], scopes: ['run', 'publish'], label: 'laptop' });
    expect(token).toMatch(/^mh_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ user: 'alice', groups: ['astro', 'lab'], scopes: ['publish', 'run'], label: 'laptop', prefix: token.slice(0, 9) });
    await store.close();

    // Neither the secret nor its tail is anywhere in the database files; its hash is.
    const bytes = Buffer.concat(fs.readdirSync(dir).filter((f) => f.startsWith('tokens.db')).map((f) => fs.readFileSync(path.join(dir, f))));
    expect(bytes.includes(Buffer.from(token.slice(9)))).toBe(false);
    expect(bytes.includes(Buffer.from(createHash('sha256').update(token).digest('hex')))).toBe(true);

    const reopened = SqliteTokenStore.open(file);
    const verified = await reopened.verify(token);
    expect(verified?.id).toBe(info.id);
    expect(Date.now() - Date.parse(verified!.last_used_at!)).toBeLessThan(5_000);
    expect((await reopened.get(info.id))?.last_used_at).toBe(verified!.last_used_at);
    expect(await reopened.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await reopened.verify('not-a-token')).toBeUndefined();
    expect(await reopened.verify('')).toBeUndefined();
    await reopened.close();
  });

  it('refuses expired and revoked tokens, also when another process revokes', async () => {
    const hub = SqliteTokenStore.open(file);
    const cli = SqliteTokenStore.open(file);
    const expired = await hub.create({ user: 'bob', scopes: ['run'], expires_at: new Date(Date.now() - 1000).toISOString() });
    expect(await hub.verify(expired.token)).toBeUndefined();
    const soon = await hub.create({ user: 'bob', scopes: ['run'], expires_at: new Date(Date.now() + 60_000).toISOString() });
    expect(await hub.verify(soon.token)).toBeDefined();

    expect(await hub.verify(soon.token)).toBeDefined();
    const revoked = await cli.revoke(soon.info.id);
    expect(revoked?.revoked_at).toBeDefined();
    expect(await hub.verify(soon.token)).toBeUndefined();
    // Revoking twice keeps the first time; an unknown id is undefined.
    expect((await hub.revoke(soon.info.id))?.revoked_at).toBe(revoked!.revoked_at);
    expect(await hub.revoke('tok_missing')).toBeUndefined();

    const bobs = await hub.list({ user: 'bob' });
    expect(bobs.map((t) => t.id).sort()).toEqual([expired.info.id, soon.info.id].sort());
    expect(JSON.stringify(await hub.list())).not.toContain('mh_' + soon.token.slice(9));
    await hub.close();
    await cli.close();
  });

  it('remembers who started a task', async () => {
    const store = SqliteTokenStore.open(file);
    await store.setTaskCreator('t1', 'alice');
    await store.setTaskCreator('t2', null);
    expect(await store.getTaskCreator('t1')).toBe('alice');
    expect(await store.getTaskCreator('t2')).toBeNull();
    expect(await store.getTaskCreator('t3')).toBeUndefined();
    await store.close();
  });
});

describe('access rules', () => {
  const doc = (visibility: 'public' | 'private', shared?: { users?: string[]; groups?: string[] }) =>
    ({ hub: { owner: 'alice', name: 'm', version: 1, visibility, ...(shared ? { shared_with: shared } : {}) } }) as unknown as PublishedMetadata;

  it('shows a private servable to its owner, shared users and groups, and admins only', () => {
    const shared = doc('private', { users: ['carol'], groups: ['lab'] });
    expect(canView(doc('public'), {})).toBe(true);
    expect(canView(shared, {})).toBe(false);
    expect(canView(shared, { user: 'alice' })).toBe(true);
    expect(canView(shared, { user: 'carol' })).toBe(true);
    expect(canView(shared, { user: 'bob', groups: ['lab'] })).toBe(true);
    expect(canView(shared, { user: 'bob', groups: ['other'] })).toBe(false);
    expect(canView(shared, { user: 'root', admin: true })).toBe(true);
  });

  it('reads scopes: admin implies all, every token reads', () => {
    expect(hasScope(['run'], 'read')).toBe(true);
    expect(hasScope(['run'], 'publish')).toBe(false);
    expect(hasScope(['admin'], 'publish')).toBe(true);
    expect(viewerOf({ user: 'root', groups: ['ops'], scopes: ['admin'] })).toEqual({ user: 'root', groups: ['ops'], admin: true });
    expect(canSeeTask('alice', { user: 'bob' })).toBe(false);
    expect(canSeeTask('alice', { user: 'root', admin: true })).toBe(true);
    expect(canSeeTask(null, {})).toBe(true);
  });
});

describe('TokenBuckets', () => {
  it('allows a minute\'s worth at once, then refills continuously', () => {
    let now = 0;
    const buckets = new TokenBuckets(60, () => now);
    for (let i = 0; i < 60; i++) expect(buckets.take('a').retryAfter).toBe(0);
    expect(buckets.take('a')).toEqual({ retryAfter: 1, remaining: 0 });
    expect(buckets.take('b').retryAfter).toBe(0);
    now += 1000; // one more request a second at 60 a minute
    expect(buckets.take('a').retryAfter).toBe(0);
    expect(buckets.take('a').retryAfter).toBe(1);
    now += 60_000;
    expect(buckets.take('a').remaining).toBe(59);
  });

  it('says how long to wait at slow rates', () => {
    let now = 0;
    const buckets = new TokenBuckets(2, () => now);
    buckets.take('k');
    buckets.take('k');
    expect(buckets.take('k').retryAfter).toBe(30);
    now += 29_000;
    expect(buckets.take('k').retryAfter).toBe(1);
    now += 1_000;
    expect(buckets.take('k').retryAfter).toBe(0);
  });
});

describe('expiry', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('parses the CLI and API forms', () => {
    expect(parseExpiry('30d', now)).toBe('2026-01-31T00:00:00.000Z');
    expect(parseExpiry('12h', now)).toBe('2026-01-01T12:00:00.000Z');
    expect(parseExpiry('2', now)).toBe('2026-01-03T00:00:00.000Z');
    expect(parseExpiry('2026-06-01T00:00:00Z', now)).toBe('2026-06-01T00:00:00.000Z');
    expect(() => parseExpiry('2025-01-01', now)).toThrow(/not in the future/);
    expect(() => parseExpiry('soon', now)).toThrow(/neither a duration/);
    expect(expiryOf({ expires_in_days: 1 }, now)).toBe('2026-01-02T00:00:00.000Z');
    expect(expiryOf({}, now)).toBeUndefined();
    expect(() => expiryOf({ expires_at: '2025-01-01T00:00:00Z' }, now)).toThrow(/not in the future/);
    expect(() => expiryOf({ expires_at: '2027-01-01T00:00:00Z', expires_in_days: 1 }, now)).toThrow(/not both/);
  });
});

