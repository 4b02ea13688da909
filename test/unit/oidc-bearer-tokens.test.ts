/**
 * Bearer JWTs from a real OpenID provider (oidc-provider, started here) against the hub built
 * in-process: a valid token maps to its user and groups (first use creates the user), and every
 * bad one is a 401 whose WWW-Authenticate says why: expired, another audience, another issuer, a
 * tampered signature, `alg: none`, an HMAC with the public key, a key the issuer does not publish,
 * an ID token. A rotated key is followed. An issuer that cannot be reached is a 503, never a pass.
 * Identity mapping and the session cookie's pieces are checked on their own too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../hub-server/app.ts';
import { ConfigError, loadConfig } from '../../hub-server/config.ts';
import { groupsFromClaims, userNameFromClaims } from '../../hub-server/adapters/federated-identity.ts';
import { SignInCookie, cookieHeader, readCookie, safeReturnPath } from '../../hub-server/plugins/web-session.ts';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startTestOpenIdProvider, type TestOpenIdProvider } from '../fixtures/test-openid-provider.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-oidc-'));
  dirs.push(dir);
  return dir;
};

function hubEnv(issuer: string, extra: Record<string, string> = {}) {
  return {
    MODELHUB_DATA: tempDir(),
    MODELHUB_AUTH: 'tokens',
    MODELHUB_DEMO: 'false',
    MODELHUB_LOG_LEVEL: 'silent',
    MODELHUB_OIDC_ISSUER: issuer,
    MODELHUB_OIDC_CLIENT_ID: TEST_CLIENT_ID,
    MODELHUB_OIDC_CLIENT_SECRET: TEST_CLIENT_SECRET,
    MODELHUB_OIDC_ADMIN_GROUP: 'modelhub-admins',
    ...extra,
  };
}

const now = () => Math.floor(Date.now() / 1000);

describe('bearer JWTs from a real OpenID provider', () => {
  let op: TestOpenIdProvider;
  let app: FastifyInstance;
  const whoami = (token: string) => app.inject({ method: 'GET', url: '/api/v1/whoami', headers: { authorization: `Bearer ${token}` } });
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: op.issuer,
    aud: TEST_CLIENT_ID,
    sub: 'bob',
    preferred_username: 'Bob.Smith',
    groups: ['/lab/astro', 'modelhub-admins'],
    iat: now(),
    exp: now() + 300,
    ...extra,
  });
  const refusal = async (token: string) => {
    const reply = await whoami(token);
    return { status: reply.statusCode, code: reply.json().error?.code, challenge: reply.headers['www-authenticate'] };
  };

  beforeAll(async () => {
    op = await startTestOpenIdProvider();
    app = await buildApp(loadConfig(hubEnv(op.issuer)), { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await op?.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('maps a valid token to its user (created on first use), groups and admin group', async () => {
    const reply = await whoami(await op.sign(claims()));
    expect(reply.statusCode, reply.body).toBe(200);
    expect(reply.json()).toMatchObject({
      user: 'bob-smith',
      groups: ['lab.astro', 'modelhub-admins'],
      admin: true,
      identities: ['urn:modelhub:user:bob-smith'],
      token_kind: 'oidc',
      scopes: ['read', 'run', 'publish', 'admin'],
    });
    expect(await app.tokens.findIdentity(op.issuer, 'bob')).toMatchObject({ user: 'bob-smith', groups: ['lab.astro', 'modelhub-admins'] });
    // The anonymous caller is told that sign-in exists.
    const anonymous = await app.inject({ method: 'GET', url: '/api/v1/whoami' });
    expect(anonymous.json()).toMatchObject({ user: null, token_kind: 'anonymous', sign_in: { oidc: true, url: '/auth/login' } });
  });

  it('refuses expired, foreign-audience, foreign-issuer and not-yet-valid tokens, saying why', async () => {
    // Within the 60 s clock skew an expiry just passed still counts; beyond it, not.
    expect((await whoami(await op.sign(claims({ exp: now() - 30 })))).statusCode).toBe(200);
    const expired = await refusal(await op.sign(claims({ iat: now() - 600, exp: now() - 120 })));
    expect(expired).toEqual({ status: 401, code: 'MODELHUB_UNAUTHENTICATED', challenge: 'Bearer realm="modelhub", error="invalid_token", error_description="the token expired"' });
    expect((await refusal(await op.sign(claims({ aud: 'another-api' })))).challenge).toContain('error_description="the token is for another audience"');
    expect((await refusal(await op.sign(claims({ iss: 'https://elsewhere.example.org' })))).challenge).toContain('another issuer');
    expect((await refusal(await op.sign(claims({ nbf: now() + 3600 })))).challenge).toContain('not valid yet');
  });

  it('refuses a tampered signature, alg none, an HMAC made with the public key, an unknown key and an ID token', async () => {
    const good = await op.sign(claims());
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...claims(), sub: 'alice', preferred_username: 'alice' })).toString('base64url');
    expect(await refusal(`${header}.${forged}.${signature}`)).toMatchObject({ status: 401, challenge: expect.stringContaining('signature does not verify') });
    const flipped = `${signature.slice(0, -4)}${signature.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    expect((await refusal(`${header}.${payload}.${flipped}`)).status).toBe(401);

    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    expect(await refusal(none)).toMatchObject({ status: 401, code: 'MODELHUB_UNAUTHENTICATED' });

    // The classic confusion: HS256 keyed with the issuer's public key.
    const { n, e, kty, kid } = op.currentKey();
    const publicJwk = JSON.stringify({ e, kid, kty, n });
    const hmac = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: kid! }).sign(new TextEncoder().encode(publicJwk));
    expect(await refusal(hmac)).toMatchObject({ status: 401, challenge: expect.stringContaining('algorithm') });

    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const stranger = { ...(await exportJWK(privateKey)), kid: 'not-published' } as JWK & { kid: string };
    expect(await refusal(await op.sign(claims(), { key: stranger }))).toMatchObject({ status: 401, challenge: expect.stringContaining('key the issuer does not publish') });

    expect(await refusal(await op.sign(claims({ nonce: 'n-0S6_WzA2Mj' }), { header: { typ: 'JWT' } }))).toMatchObject({ status: 401, challenge: expect.stringContaining('ID token') });
    expect((await refusal('not-a-jwt-at-all')).status).toBe(401);
    // An `mh_` token still works beside the JWTs.
    const { token } = await app.tokens.create({ user: 'carol', scopes: ['run'] });
    expect((await whoami(token)).json()).toMatchObject({ user: 'carol', token_kind: 'api-token' });
  });

  it('follows a key rotation: a token signed with the new key verifies once the provider publishes it', async () => {
    expect((await whoami(await op.sign(claims()))).statusCode).toBe(200);
    const previous = op.currentKey();
    await op.rotateKeys();
    expect(op.currentKey().kid).not.toBe(previous.kid);
    const rotated = await op.sign(claims());
    // jose fetches the key set again for an unknown kid, at most every few seconds.
    let status = 0;
    for (const started = Date.now(); Date.now() - started < 30_000; ) {
      status = (await whoami(rotated)).statusCode;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(status).toBe(200);
    // Tokens signed with the previous key, still published, keep working until they expire.
    expect((await whoami(await op.sign(claims(), { key: previous }))).statusCode).toBe(200);
  });

  it('refuses a second identity whose name normalises to a taken one', async () => {
    expect((await whoami(await op.sign(claims({ sub: 'alice', preferred_username: 'alice', groups: ['/lab'] })))).json().user).toBe('alice');
    const collision = await whoami(await op.sign(claims({ sub: 'alice2', preferred_username: 'Alice', groups: [] })));
    expect(collision.statusCode).toBe(403);
    expect(collision.json().error.message).toContain('already belongs to another identity');
  });

  it('answers 503 when the issuer cannot be reached, never an anonymous pass', async () => {
    const closed = await startTestOpenIdProvider();
    const issuer = closed.issuer;
    const token = await closed.sign({ ...claims(), iss: issuer });
    await closed.stop();
    const offline = await buildApp(loadConfig(hubEnv(issuer)), { logger: false });
    try {
      const reply = await offline.inject({ method: 'GET', url: '/api/v1/whoami', headers: { authorization: `Bearer ${token}` } });
      expect(reply.statusCode).toBe(503);
      expect(reply.json().error.code).toBe('MODELHUB_BACKEND_UNAVAILABLE');
      const run = await offline.inject({ method: 'GET', url: '/api/v1/servables', headers: { authorization: `Bearer ${token}` } });
      expect(run.statusCode).toBe(503);
      const signIn = await offline.inject({ method: 'GET', url: '/auth/login' });
      expect(signIn.statusCode).toBe(503);
      expect(signIn.body).toContain('MODELHUB_BACKEND_UNAVAILABLE');
      // Without a token the public catalogue still answers.
      expect((await offline.inject({ method: 'GET', url: '/api/v1/whoami' })).statusCode).toBe(200);
    } finally {
      await offline.close();
    }
  });

  it('sets the sign-in cookie HttpOnly, SameSite=Lax and Secure when the public URL is https, and sends PKCE S256', async () => {
    const secureHub = await buildApp(loadConfig(hubEnv(op.issuer, { MODELHUB_PUBLIC_URL: 'https://hub.example.org' })), { logger: false });
    try {
      const reply = await secureHub.inject({ method: 'GET', url: '/auth/login?return_to=/models/a/b' });
      expect(reply.statusCode).toBe(302);
      const location = new URL(reply.headers.location as string);
      expect(location.origin).toBe(op.issuer);
      expect(location.searchParams.get('code_challenge_method')).toBe('S256');
      expect(location.searchParams.get('redirect_uri')).toBe('https://hub.example.org/auth/callback');
      expect(location.searchParams.get('state')).toBeTruthy();
      const cookie = String(reply.headers['set-cookie']);
      expect(cookie).toMatch(/^modelhub_sign_in=/);
      for (const attribute of ['HttpOnly', 'SameSite=Lax', 'Secure', 'Path=/auth/']) expect(cookie).toContain(attribute);
    } finally {
      await secureHub.close();
    }
    const plain = await app.inject({ method: 'GET', url: '/auth/login' });
    expect(String(plain.headers['set-cookie'])).not.toContain('Secure');
    // A callback that this browser did not start is refused, with a page that says so.
    const stray = await app.inject({ method: 'GET', url: '/auth/callback?code=abc&state=xyz' });
    expect(stray.statusCode).toBe(400);
    expect(stray.headers['content-type']).toContain('text/html');
  });
});

describe('identity mapping and session pieces', () => {
  it('normalises user names from a claim or an e-mail address', () => {
    expect(userNameFromClaims({ preferred_username: 'José.García' }, 'preferred_username')).toBe('jose-garcia');
    expect(userNameFromClaims({ email: 'Ada.Lovelace@uni.example' }, 'email')).toBe('ada-lovelace');
    expect(userNameFromClaims({ preferred_username: 'ada@uni.example' }, 'preferred_username')).toBe('ada');
    expect(userNameFromClaims({ preferred_username: '--' }, 'preferred_username')).toBeUndefined();
    expect(userNameFromClaims({}, 'preferred_username')).toBeUndefined();
    expect(userNameFromClaims({ preferred_username: 'x'.repeat(80) }, 'preferred_username')).toBe('x'.repeat(39));
  });

  it('normalises groups from a list, a string, Keycloak paths and entitlements', () => {
    expect(groupsFromClaims({ groups: ['/lab/astro', 'Lab', 'lab'] }, 'groups')).toEqual(['lab', 'lab.astro']);
    expect(groupsFromClaims({ eduPersonEntitlement: 'urn:mace:uni.example:group:lab other' }, 'eduPersonEntitlement')).toEqual(['other', 'urn-mace-uni.example-group-lab']);
    expect(groupsFromClaims({ groups: ['urn:globus:groups:id:D3974728-6458-11e4-b72d-123139141556'] }, 'groups')).toEqual(['urn:globus:groups:id:d3974728-6458-11e4-b72d-123139141556']);
    expect(groupsFromClaims({}, 'groups')).toBeUndefined();
  });

  it('reads cookies, seals sign-in state and refuses forged or open-redirect values', () => {
    expect(readCookie('a=1; modelhub_session=mh_abc%2B; b=2', 'modelhub_session')).toBe('mh_abc+');
    expect(readCookie('a=1', 'modelhub_session')).toBeUndefined();
    expect(cookieHeader('s', 'v', { maxAgeSeconds: 60, secure: true })).toBe('s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure');
    const sealer = new SignInCookie('secret');
    const sealed = sealer.seal({ state: 's', nonce: 'n', codeVerifier: 'v', returnTo: '/x' });
    expect(sealer.open(sealed)).toMatchObject({ state: 's', nonce: 'n', codeVerifier: 'v', returnTo: '/x' });
    expect(new SignInCookie('other').open(sealed)).toBeUndefined();
    expect(sealer.open(`${sealed.slice(0, -2)}xx`)).toBeUndefined();
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', 42]) expect(safeReturnPath(bad)).toBe('/');
    expect(safeReturnPath('/models/a/b?version=2')).toBe('/models/a/b?version=2');
  });
});

describe('sign-in configuration', () => {
  it('names the missing or bad variable, and derives the Globus scope from the client id', () => {
    expect(() => loadConfig({ MODELHUB_OIDC_ISSUER: 'https://idp.example.org' })).toThrow(ConfigError);
    expect(() => loadConfig({ MODELHUB_OIDC_ISSUER: 'https://idp.example.org' })).toThrow(/MODELHUB_OIDC_CLIENT_ID/);
    expect(() => loadConfig({ MODELHUB_OIDC_ISSUER: 'https://idp.example.org', MODELHUB_OIDC_CLIENT_ID: 'hub' })).toThrow(/MODELHUB_OIDC_CLIENT_SECRET/);
    expect(() => loadConfig({ MODELHUB_OIDC_ISSUER: 'not a url', MODELHUB_OIDC_CLIENT_ID: 'hub', MODELHUB_OIDC_CLIENT_SECRET: 's' })).toThrow(/MODELHUB_OIDC_ISSUER/);
    expect(() => loadConfig({ MODELHUB_GLOBUS_CLIENT_ID: 'abc' })).toThrow(/MODELHUB_GLOBUS_CLIENT_SECRET/);
    const config = loadConfig({ MODELHUB_GLOBUS_CLIENT_ID: 'abc', MODELHUB_GLOBUS_CLIENT_SECRET: 's' });
    expect(config.globus).toMatchObject({ authUrl: 'https://auth.globus.org', groupsUrl: 'https://groups.api.globus.org', scope: 'https://auth.globus.org/scopes/abc/action_all' });
    expect(loadConfig({}).oidc).toBeUndefined();
  });
});
