/**
 * Usage an author can see (docs/usage.md), on a real hub in this process with MODELHUB_AUTH=tokens:
 * runs by two callers (and one failed run) counted per version and day, distinct callers 2, mean
 * latency, visible to the owner only (also on the model page, in Chromium where installed), never
 * naming a caller, and kept across a restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { buildCli } from '../../sdk/cli.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import { onnxMetadata, publishRaw } from '../helpers/hub-http.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-usage-'));
const model = buildMlpOnnx({ inputSize: 4, hidden: 8, classes: 3 });
// A long flush interval: the counts reach the store only through the read (and the close).
const ENV = { MODELHUB_DATA: dir, MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent', MODELHUB_VERIFY_INTERVAL: '0', MODELHUB_AUTH: 'tokens', MODELHUB_USAGE_FLUSH_SECONDS: '3600' };
let app: FastifyInstance;
let url = '';
const t: Record<string, string> = {};

async function start() {
  app = await buildApp(loadConfig(ENV), { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
}

async function call(method: string, route: string, who?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who) headers.authorization = `Bearer ${t[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, text };
}

async function publish(who: string, metadata: ServableMetadata) {
  const accepted = await publishRaw(url, metadata, [{ name: 'mlp.onnx', bytes: model }], { authorization: `Bearer ${t[who]}` });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  for (const started = Date.now(); Date.now() - started < 120_000; ) {
    const task = (await call('GET', `/api/v1/tasks/${accepted.body.task_id}`, who)).body;
    if (task.status === 'SUCCEEDED') return;
    if (task.status === 'FAILED') throw new Error(JSON.stringify(task));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('publish did not finish');
}

const INPUT = [[0.1, 0.2, 0.3, 0.4]];
const today = () => new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  await start();
  for (const user of ['alice', 'bob', 'carol']) t[user] = (await app.hub.tokens.create({ user, scopes: ['run', 'publish'], groups: [], created_by: 'local' })).token;
  t.root = (await app.hub.tokens.create({ user: 'root', scopes: ['admin'], groups: [], created_by: 'local' })).token;
  await publish('alice', onnxMetadata('alice', 'counted'));
  await publish('alice', onnxMetadata('alice', 'counted'));
  await publish('alice', onnxMetadata('alice', 'hidden', { visibility: 'private', shared_with: { users: ['bob'] } }));
}, 180_000);

afterAll(async () => {
  await app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('usage an author can see', () => {
  it('counts runs, errors, latency and distinct callers per version and day, for the owner only', async () => {
    // Version 2 (latest): alice 3 runs, bob 2 runs and 1 that fails; version 1: bob once; one anonymous run.
    for (let i = 0; i < 3; i += 1) expect((await call('POST', '/api/v1/servables/alice/counted/run', 'alice', { inputs: [[0.1 * i, 0.2, 0.3, 0.4]] })).status).toBe(200);
    for (let i = 0; i < 2; i += 1) expect((await call('POST', '/api/v1/servables/alice/counted/run', 'bob', { inputs: INPUT })).status).toBe(200);
    const bad = await call('POST', '/api/v1/servables/alice/counted/run', 'bob', { inputs: [[1, 2]] });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect((await call('POST', '/api/v1/servables/alice/counted/versions/1/run', 'bob', { inputs: INPUT })).status).toBe(200);

    const all = await call('GET', '/api/v1/servables/alice/counted/usage', 'alice');
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ servable: 'alice/counted', version: null, totals: { runs: 7, errors: 1, distinct_callers: 2, anonymous_runs: 0 } });
    expect(all.body.totals.mean_latency_ms).toBeGreaterThan(0);
    expect(all.body.days).toEqual([
      { day: today(), version: 1, runs: 1, errors: 0, distinct_callers: 1, anonymous_runs: 0, mean_latency_ms: expect.any(Number) },
      { day: today(), version: 2, runs: 6, errors: 1, distinct_callers: 2, anonymous_runs: 0, mean_latency_ms: expect.any(Number) },
    ]);
    const v2 = await call('GET', '/api/v1/servables/alice/counted/usage?version=2', 'alice');
    expect(v2.body).toMatchObject({ version: 2, totals: { runs: 6, errors: 1, distinct_callers: 2 } });
    const v1 = await call('GET', '/api/v1/servables/alice/counted/versions/1/usage', 'alice');
    expect(v1.body).toMatchObject({ version: 1, totals: { runs: 1, errors: 0, distinct_callers: 1 } });
    // The same through `modelhub usage`.
    const out: string[] = [];
    const exitCode = process.exitCode;
    await buildCli({ out: (line) => out.push(line), err: (line) => out.push(line) }).parseAsync(['node', 'modelhub', '--url', url, '--token', t.alice!, '--json', 'usage', 'alice/counted@2', '--days', '7']);
    process.exitCode = exitCode;
    expect(JSON.parse(out.join('\n'))).toMatchObject({ servable: 'alice/counted', version: 2, totals: { runs: 6, errors: 1, distinct_callers: 2 } });
    // An admin may read it too.
    expect((await call('GET', '/api/v1/servables/alice/counted/usage', 'root')).body.totals.runs).toBe(7);

    // No identities: neither names nor the hashes they are counted by.
    const hashes = new Database(path.join(dir, 'usage.db'), { readonly: true }).prepare('SELECT caller_hash FROM usage_callers').pluck().all() as string[];
    expect(hashes.length).toBeGreaterThan(0);
    for (const text of [all.text, v1.text, v2.text]) {
      expect(text).not.toMatch(/bob|carol|"alice"/);
      for (const hash of hashes) expect(text).not.toContain(hash);
    }
    expect(hashes.some((hash) => hash.includes('bob'))).toBe(false);
  });

  it('answers 404 to those who may not see the servable and 403 to those who see it but do not own it', async () => {
    expect((await call('GET', '/api/v1/servables/alice/counted/usage', 'bob')).status).toBe(403);
    expect((await call('GET', '/api/v1/servables/alice/counted/usage')).status).toBe(401);
    const hidden = await call('GET', '/api/v1/servables/alice/hidden/usage', 'carol');
    const unknown = await call('GET', '/api/v1/servables/alice/nothing-here/usage', 'carol');
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe(unknown.body.error.code);
    // Bob may see alice/hidden (shared with him) but not its usage.
    expect((await call('GET', '/api/v1/servables/alice/hidden/usage', 'bob')).status).toBe(403);
    expect((await call('GET', '/api/v1/servables/alice/hidden/usage', 'alice')).status).toBe(200);
    expect((await call('GET', '/api/v1/servables/alice/counted/usage?version=9', 'alice')).body.error.code).toBe('MODELHUB_VERSION_NOT_FOUND');
    expect((await call('GET', '/api/v1/servables/alice/counted/usage?days=0', 'alice')).status).toBe(400);
  });

  it('keeps the counts across a restart (written at close)', async () => {
    expect((await call('POST', '/api/v1/servables/alice/counted/run', 'carol', { inputs: INPUT })).status).toBe(200);
    await app.close();
    await start();
    const all = await call('GET', '/api/v1/servables/alice/counted/usage', 'alice');
    expect(all.body.totals).toMatchObject({ runs: 8, errors: 1, distinct_callers: 3 });
  });
});

const CHROMIUM = process.env.MODELHUB_CHROMIUM ?? '/usr/bin/chromium';

describe('usage on the model page', () => {
  it.skipIf(!fs.existsSync(CHROMIUM))('shows the owner the usage table, and other visitors no usage section', async () => {
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], headless: true });
    try {
      const look = async (who: string) => {
        const page = await context.newPage();
        await page.addInitScript((token) => localStorage.setItem('modelhub.token', token), t[who]!);
        const usage = page.waitForResponse((response) => /\/api\/v1\/.*\/usage\?/.test(response.url()));
        await page.goto(`${url}/models/alice/counted`);
        const response = await usage;
        const status = response.status();
        await page.waitForSelector('main[aria-busy="false"]');
        return { page, status };
      };
      const owner = await look('alice');
      expect(owner.status).toBe(200);
      const caption = await owner.page.locator('#usage-table caption').textContent();
      const api = (await call('GET', '/api/v1/servables/alice/counted/versions/2/usage', 'alice')).body;
      expect(caption).toContain(`${api.totals.runs} runs, ${api.totals.errors} errors, ${api.totals.distinct_callers} distinct signed-in callers`);
      // Another visitor: the page does not even ask (a refusal would land in the audit log).
      const other = await context.newPage();
      await other.addInitScript((token) => localStorage.setItem('modelhub.token', token), t.bob!);
      const asked: string[] = [];
      other.on('request', (request) => {
        if (/\/usage\?/.test(request.url())) asked.push(request.url());
      });
      const whoami = other.waitForResponse((response) => response.url().endsWith('/api/v1/whoami') && response.request().headers().authorization === `Bearer ${t.bob}`);
      await other.goto(`${url}/models/alice/counted`);
      await other.waitForSelector('#model-title');
      await whoami;
      await other.waitForLoadState('networkidle');
      expect(asked).toEqual([]);
      expect(await other.locator('#usage').count()).toBe(0);
    } finally {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
