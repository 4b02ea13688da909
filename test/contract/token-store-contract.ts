/**
 * The contract every TokenStore adapter passes for identity links (federated sign-in): first
 * sign-in claims a user name, a second identity may be linked by its user, and two identities
 * never share a name by accident. `makeStore` gives a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../schemas/ports/token-store.ts';
import { hubErrorCode } from '../helpers/rejection.ts';

export type MakeTokenStore = () => Promise<{ store: TokenStore; cleanup: () => Promise<void> }>;

const ISSUER = 'https://idp.example.org/realms/lab';
const GLOBUS = 'https://auth.globus.org';

export function describeTokenStoreContract(adapter: string, makeStore: MakeTokenStore): void {
  describe(`TokenStore contract (${adapter}): identity links`, () => {
    let store: TokenStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('a first sign-in claims the name; signing in again finds it and refreshes its groups', async () => {
      expect(await store.findIdentity(ISSUER, 'sub-alice')).toBeUndefined();
      const first = await store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', groups: ['lab', 'astro', 'lab'], mode: 'claim' });
      expect(first).toMatchObject({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', groups: ['astro', 'lab'] });
      const again = await store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', groups: ['lab'], mode: 'claim' });
      expect(again.groups).toEqual(['lab']);
      expect(again.created_at).toBe(first.created_at);
      expect(await store.findIdentity(ISSUER, 'sub-alice')).toMatchObject({ user: 'alice', groups: ['lab'] });
      // Without groups, a refresh keeps the ones it had.
      expect((await store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', mode: 'link' })).groups).toEqual(['lab']);
    });

    it('refuses a second identity claiming a taken name, and an identity moving to another user', async () => {
      await store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', mode: 'claim' });
      // Another person whose name normalises to "alice" at the same or another provider.
      expect(await hubErrorCode(store.linkIdentity({ issuer: ISSUER, subject: 'sub-other', user: 'alice', mode: 'claim' }))).toBe('MODELHUB_CONFLICT');
      expect(await hubErrorCode(store.linkIdentity({ issuer: GLOBUS, subject: 'abc', user: 'alice', mode: 'claim' }))).toBe('MODELHUB_CONFLICT');
      expect(await hubErrorCode(store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'mallory', mode: 'link' }))).toBe('MODELHUB_CONFLICT');
      expect(await store.findIdentity(ISSUER, 'sub-other')).toBeUndefined();
    });

    it('links a further identity to a signed-in user and lists them oldest first', async () => {
      await store.linkIdentity({ issuer: ISSUER, subject: 'sub-alice', user: 'alice', groups: ['lab'], mode: 'claim' });
      const globusId = 'b0d168b0-6398-11e4-ac82-12313b077182';
      await store.linkIdentity({ issuer: GLOBUS, subject: globusId, user: 'alice', mode: 'link' });
      expect((await store.identitiesOf('alice')).map((link) => [link.issuer, link.subject])).toEqual([
        [ISSUER, 'sub-alice'],
        [GLOBUS, globusId],
      ]);
      expect(await store.findIdentity(GLOBUS, globusId)).toMatchObject({ user: 'alice', groups: [] });
      expect(await store.identitiesOf('bob')).toEqual([]);
    });

    it('two first sign-ins racing for one name: exactly one wins', async () => {
      const results = await Promise.allSettled(
        ['a', 'b', 'c', 'd'].map((subject) => store.linkIdentity({ issuer: ISSUER, subject, user: 'carol', mode: 'claim' })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(await store.identitiesOf('carol')).toHaveLength(1);
    });
  });

  describe(`TokenStore contract (${adapter}): tokens and task creators`, () => {
    let store: TokenStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('verifies a token by its secret, records its use, and never lists the secret', async () => {
      const { token, info } = await store.create({ user: 'alice', groups: ['lab', 'lab', 'astro'], scopes: ['run', 'publish'], label: 'laptop' });
      expect(token).toMatch(/^mh_[A-Za-z0-9_-]{43}$/);
      expect(info).toMatchObject({ user: 'alice', groups: ['astro', 'lab'], scopes: ['publish', 'run'], label: 'laptop', prefix: token.slice(0, 9) });
      const verified = await store.verify(token);
      expect(verified?.id).toBe(info.id);
      expect(verified?.last_used_at).toEqual(expect.any(String));
      expect((await store.get(info.id))?.last_used_at).toBe(verified!.last_used_at);
      expect(await store.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
      expect(await store.verify('not-a-token')).toBeUndefined();
      expect(await store.verify('')).toBeUndefined();
      expect(JSON.stringify(await store.list())).not.toContain(token.slice(9));
      expect(await store.get('tok_missing')).toBeUndefined();
    });

    it('refuses expired and revoked tokens; lists newest first, by user', async () => {
      const expired = await store.create({ user: 'bob', scopes: ['run'], expires_at: new Date(Date.now() - 1000).toISOString() });
      expect(await store.verify(expired.token)).toBeUndefined();
      const soon = await store.create({ user: 'bob', scopes: ['run'], expires_at: new Date(Date.now() + 60_000).toISOString(), created_by: 'admin' });
      expect(await store.verify(soon.token)).toMatchObject({ user: 'bob', created_by: 'admin' });
      const revoked = await store.revoke(soon.info.id);
      expect(revoked?.revoked_at).toEqual(expect.any(String));
      expect(await store.verify(soon.token)).toBeUndefined();
      // Revoking twice keeps the first time; an unknown id is undefined.
      expect((await store.revoke(soon.info.id))?.revoked_at).toBe(revoked!.revoked_at);
      expect(await store.revoke('tok_missing')).toBeUndefined();
      await store.create({ user: 'carol', scopes: ['admin'] });
      expect((await store.list({ user: 'bob' })).map((t) => t.id).sort()).toEqual([expired.info.id, soon.info.id].sort());
      const all = await store.list();
      expect(all).toHaveLength(3);
      expect([...all.map((t) => t.created_at)].sort().reverse()).toEqual(all.map((t) => t.created_at));
    });

    it('remembers who started a task', async () => {
      await store.setTaskCreator('t1', 'alice');
      await store.setTaskCreator('t2', null);
      expect(await store.getTaskCreator('t1')).toBe('alice');
      expect(await store.getTaskCreator('t2')).toBeNull();
      expect(await store.getTaskCreator('t3')).toBeUndefined();
      await store.setTaskCreator('t1', 'bob');
      expect(await store.getTaskCreator('t1')).toBe('bob');
    });
  });
}
