/**
 * The contract every TokenStore adapter passes for identity links (federated sign-in): first
 * sign-in claims a user name, a second identity may be linked by its user, and two identities
 * never share a name by accident. `makeStore` gives a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../hub-server/ports/token-store.ts';
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
}
