/**
 * Signing in with a real OpenID provider (oidc-provider, started here) on the real hub:
 * the web catalogue's "Sign in" in Chromium (authorization code + PKCE) into a session cookie
 * (HttpOnly, SameSite=Lax), changes refused without the CSRF token, sign-out; `modelhub login`
 * with the device authorization grant (the provider's verification page driven in Chromium), the
 * saved token used and refreshed; and a signed-in user outside a private servable's sharing list
 * seeing exactly what a stranger sees, on every route and on the web page.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { onnxMetadata, publishRaw } from '../helpers/hub-http.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, startTestOpenIdProvider, type TestOpenIdProvider } from '../fixtures/test-openid-provider.ts';

const CHROMIUM = process.env.MODELHUB_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 5) });
const INPUTS = [[0.1, 0.2, 0.3, 0.4]];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-oidc-e2e-'));
const CONFIG = path.join(work, 'config.json');
const cliEnv = { ...process.env, MODELHUB_CONFIG: CONFIG, MODELHUB_URL: '', MODELHUB_TOKEN: '' };

interface Reply {
  status: number;
  body: any;
}

const problem = fs.existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set MODELHUB_CHROMIUM)`;
if (problem && !process.env.CI) console.warn(`OpenID sign-in browser tests skipped: ${problem}`);

describe.skipIf(Boolean(problem) && !process.env.CI)('signing in with a real OpenID provider', () => {
  let op: TestOpenIdProvider;
  let hub: TestHub;
  let browser: Browser;

  async function call(method: string, route: string, auth: { cookie?: string; bearer?: string; csrf?: string } = {}, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (auth.cookie) headers.cookie = `modelhub_session=${encodeURIComponent(auth.cookie)}`;
    if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
    if (auth.csrf) headers['x-csrf-token'] = auth.csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${hub.url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // an HTML page or an empty body
    }
    return { status: response.status, body: parsed };
  }

  /** The provider's development login and consent pages, as a person would fill them in. */
  async function approveAtProvider(page: Page, login: string) {
    await page.waitForSelector('input[name="login"]');
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', 'any password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('button[type="submit"]:has-text("Continue")');
    await page.click('button[type="submit"]:has-text("Continue")');
  }

  /** A fresh browser signed in through the catalogue's "Sign in" link. */
  async function signIn(login: string, startPath = '/'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${hub.url}${startPath}`);
    await page.waitForSelector('main[aria-busy="false"]');
    await page.click('#sign-in');
    await approveAtProvider(page, login);
    await page.waitForURL(`${hub.url}${startPath}`);
    await page.waitForSelector('#signed-in-as');
    await page.waitForSelector('main[aria-busy="false"]');
    return { context, page };
  }

  const sessionOf = async (context: BrowserContext) => (await context.cookies(hub.url)).find((c) => c.name === 'modelhub_session');

  beforeAll(async () => {
    if (problem) throw new Error(problem);
    op = await startTestOpenIdProvider();
    hub = await startTestHub({
      env: {
        MODELHUB_AUTH: 'tokens',
        MODELHUB_OIDC_ISSUER: op.issuer,
        MODELHUB_OIDC_CLIENT_ID: TEST_CLIENT_ID,
        MODELHUB_OIDC_CLIENT_SECRET: TEST_CLIENT_SECRET,
        MODELHUB_OIDC_SCOPES: 'openid profile email groups offline_access',
        MODELHUB_OIDC_ADMIN_GROUP: 'modelhub-admins',
      },
    });
    op.setRedirectUri(`${hub.url}/auth/callback`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });

    // carol's private model, shared with the group "lab" (alice is in it, eve is not).
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    const carol = (await store.create({ user: 'carol', scopes: ['run', 'publish'], created_by: 'local' })).token;
    await store.close();
    const published: [string, Parameters<typeof onnxMetadata>[2]][] = [
      ['secret-mlp', { visibility: 'private', shared_with: { groups: ['lab'] } }],
      ['open-mlp', {}],
    ];
    for (const [name, extra] of published) {
      const accepted = await publishRaw(hub.url, onnxMetadata('carol', name, { ...extra, domains: ['physics'] }), [{ name: `${name}.onnx`, bytes: MODEL }], { authorization: `Bearer ${carol}` });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      for (const started = Date.now(); ; ) {
        const task = await call('GET', `/api/v1/tasks/${accepted.body.task_id}`, { bearer: carol });
        if (task.body.status === 'SUCCEEDED') break;
        if (task.body.status === 'FAILED' || Date.now() - started > 120_000) throw new Error(JSON.stringify(task.body));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
    await op?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('signs in in Chromium (code + PKCE), keeps the session in a safe cookie, refuses changes without the CSRF token, and signs out', async () => {
    const { context, page } = await signIn('alice', '/models/carol/secret-mlp');
    expect(await page.locator('#signed-in-as').textContent()).toBe('Signed in as alice');
    // The private model shared with her group shows; no error panel.
    expect(await page.locator('.error-panel').count()).toBe(0);
    expect(await page.locator('main').textContent()).toContain('secret-mlp');

    const cookie = await sessionOf(context);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    expect(cookie!.value).toMatch(/^mh_/);
    // The page's own script cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain('modelhub_session');

    const me = await page.evaluate(async () => (await fetch('/api/v1/whoami')).json());
    expect(me).toMatchObject({ user: 'alice', groups: ['lab'], admin: false, token_kind: 'session', scopes: ['publish', 'read', 'run'] });
    // A change with the cookie alone (what a cross-site form could make the browser send) is refused;
    // with the session's CSRF token, as the catalogue sends it, it runs.
    const withoutCsrf = await page.evaluate(async () => {
      const response = await fetch('/api/v1/servables/carol/secret-mlp/run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [[0.1, 0.2, 0.3, 0.4]] }) });
      return { status: response.status, body: await response.json() };
    });
    expect(withoutCsrf.status).toBe(403);
    expect(withoutCsrf.body.error.message).toContain('x-csrf-token');
    const withCsrf = await call('POST', '/api/v1/servables/carol/secret-mlp/run', { cookie: cookie!.value, csrf: me.csrf_token }, { inputs: INPUTS });
    expect(withCsrf.status, JSON.stringify(withCsrf.body)).toBe(200);
    // Signing out needs the form's token too.
    expect((await call('POST', '/auth/logout', { cookie: cookie!.value })).status).toBe(403);

    await page.click('#sign-out-form button');
    await page.waitForURL(`${hub.url}/`);
    await page.waitForSelector('#sign-in');
    expect(await sessionOf(context)).toBeUndefined();
    // The session is revoked on the hub, not only forgotten by the browser.
    expect((await call('GET', '/api/v1/whoami', { cookie: cookie!.value })).body).toMatchObject({ user: null, token_kind: 'anonymous' });
    expect((await call('GET', '/api/v1/servables/carol/secret-mlp', { cookie: cookie!.value })).status).toBe(404);
    await context.close();
  });

  it('modelhub login signs in with the device grant, and the saved token is used and refreshed', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--json', 'login'], { cwd: work, env: cliEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    for (const started = Date.now(); !/open (\S+) in a browser/.test(stderr); ) {
      if (Date.now() - started > 60_000) throw new Error(`no sign-in code: ${stdout}${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const verification = /open (\S+) in a browser/.exec(stderr)![1]!;
    expect(verification.startsWith(op.issuer)).toBe(true);

    // Bob approves the code in his browser: confirm the code, log in, consent.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(verification);
    await page.click('button[type="submit"]:has-text("Continue")');
    await approveAtProvider(page, 'bob');
    await page.waitForSelector('text=/Sign-in Success/i');
    await context.close();
    expect(await exited, stdout + stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ url: hub.url, token: true, user: 'bob-smith', refreshable: true });
    const saved = JSON.parse(fs.readFileSync(CONFIG, 'utf8')) as { url: string; token: string; refresh_token: string; expires_at: string };
    expect(saved).toMatchObject({ url: hub.url, token: expect.stringMatching(/^ey/), refresh_token: expect.any(String) });
    expect((fs.statSync(CONFIG).mode & 0o777).toString(8)).toBe('600');
    const me = await call('GET', '/api/v1/whoami', { bearer: saved.token });
    expect(me.body).toMatchObject({ user: 'bob-smith', groups: ['lab.astro', 'modelhub-admins'], admin: true, token_kind: 'oidc' });

    // The CLI sends it: an admin sees carol's private model.
    const listed = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'describe', 'carol/secret-mlp'], { cwd: work, env: cliEnv }, (error, out) =>
        resolve({ code: error ? 1 : 0, stdout: out }),
      ),
    );
    expect(listed.code, listed.stdout).toBe(0);

    // Once the token has (nearly) expired, the next command renews it first.
    fs.writeFileSync(CONFIG, JSON.stringify({ ...saved, expires_at: new Date(Date.now() - 1000).toISOString() }));
    const again = await new Promise<number>((resolve) =>
      execFile(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'ls'], { cwd: work, env: cliEnv }, (error) => resolve(error ? 1 : 0)),
    );
    expect(again).toBe(0);
    const renewed = JSON.parse(fs.readFileSync(CONFIG, 'utf8')) as typeof saved;
    expect(renewed.token).not.toBe(saved.token);
    expect(Date.parse(renewed.expires_at)).toBeGreaterThan(Date.now());
    expect((await call('GET', '/api/v1/whoami', { bearer: renewed.token })).body.user).toBe('bob-smith');
  });

  it('a signed-in user outside the sharing list sees exactly what a stranger sees, on every route and page', async () => {
    const { context, page } = await signIn('eve');
    const cookie = (await sessionOf(context))!.value;
    const me = (await call('GET', '/api/v1/whoami', { cookie })).body;
    expect(me).toMatchObject({ user: 'eve', groups: ['visitors'], token_kind: 'session' });
    const eve = { cookie, csrf: me.csrf_token as string };

    // Lists, search, totals and facets: the same as an anonymous caller's.
    for (const route of ['/api/v1/servables?owner=carol', '/api/v1/servables', '/api/v1/search?q=mlp', '/api/v1/search?domain=physics', '/api/v1/search?owner=carol&latest=true']) {
      const seen = await call('GET', route, eve);
      expect(seen.status).toBe(200);
      expect(JSON.stringify(seen.body)).not.toContain('secret-mlp');
      expect(seen.body).toEqual((await call('GET', route)).body);
    }
    const blank = (reply: Reply, name: string) => ({ status: reply.status, body: JSON.stringify(reply.body).replaceAll(name, '<name>') });
    const probes: [string, (name: string) => string, ((name: string) => unknown)?][] = [
      ['GET', (n) => `/api/v1/servables/carol/${n}`],
      ['GET', (n) => `/api/v1/servables/carol/${n}/versions`],
      ['GET', (n) => `/api/v1/servables/carol/${n}/versions/1`],
      ['POST', (n) => `/api/v1/servables/carol/${n}/run`, () => ({ inputs: INPUTS })],
      ['GET', (n) => `/api/v1/servables/carol/${n}/citation?format=bibtex`],
      ['GET', (n) => `/api/v1/identifiers/${encodeURIComponent(`modelhub:carol/${n}/v1`)}`],
      ['GET', (n) => `/v2/models/carol.${n}`],
      ['POST', (n) => `/v2/models/carol.${n}/infer`, () => ({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] })],
      ['GET', (n) => `/actions/servables/carol/${n}/`],
      ['POST', () => '/actions/inference/run', (n) => ({ request_id: `probe-${n}`, body: { servable: `carol/${n}`, inputs: INPUTS } })],
    ];
    for (const [method, route, body] of probes) {
      const hidden = await call(method, route('secret-mlp'), eve, body?.('secret-mlp'));
      const unknown = await call(method, route('no-such-mlp'), eve, body?.('no-such-mlp'));
      expect(blank(hidden, 'secret-mlp'), `${method} ${route('secret-mlp')}`).toEqual(blank(unknown, 'no-such-mlp'));
      expect(hidden.status, `${method} ${route('secret-mlp')}`).toBeGreaterThanOrEqual(400);
    }

    // The web page shows eve what it shows for a model that does not exist.
    const shown = async (name: string) => {
      await page.goto(`${hub.url}/models/carol/${name}`);
      await page.waitForSelector('main[aria-busy="false"]');
      return (await page.locator('main').textContent())!.replaceAll(name, '<name>');
    };
    expect(await shown('secret-mlp')).toBe(await shown('no-such-mlp'));
    await page.goto(`${hub.url}/?q=mlp`);
    await page.waitForSelector('main[aria-busy="false"]');
    expect(await page.locator('main').textContent()).not.toContain('secret-mlp');
    await context.close();
  });
});
