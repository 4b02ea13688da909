/**
 * Webhooks end to end (docs/webhooks.md), on a real hub in this process with MODELHUB_AUTH=tokens
 * and a real HTTP receiver: signatures checked here with node:crypto from the documented recipe,
 * a private servable's events reaching its owner's webhook and never another user's, a drifted
 * example firing `drift.detected` once, a failing receiver retried and then marked failing, the
 * address guard, and queued deliveries surviving a restart of the hub.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { buildCli } from '../../sdk/cli.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import { onnxMetadata, publishRaw } from '../helpers/hub-http.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-webhooks-'));
const model = buildMlpOnnx({ inputSize: 4, hidden: 8, classes: 3 });
const ENV = {
  MODELHUB_DATA: dir,
  MODELHUB_DEMO: 'false',
  MODELHUB_LOG_LEVEL: 'silent',
  MODELHUB_VERIFY_INTERVAL: '0',
  MODELHUB_AUTH: 'tokens',
  MODELHUB_WEBHOOK_ALLOW_LOOPBACK: 'true',
  MODELHUB_WEBHOOK_ATTEMPTS: '3',
  MODELHUB_WEBHOOK_BACKOFF_SECONDS: '0.05',
};

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Which start of the hub it came from. */
  generation: number;
}

let app: FastifyInstance;
let url = '';
let generation = 0;
const t: Record<string, string> = {};
const received: Received[] = [];
/** Paths the receiver answers 500 on. */
const failing = new Set<string>(['/fail', '/flaky']);
let receiver: http.Server;
let receiverUrl = '';

async function start(env: Record<string, string> = {}) {
  // Counted before the hub starts: its dispatcher may send what is queued before listen returns.
  generation += 1;
  app = await buildApp(loadConfig({ ...ENV, ...env }), { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
}

async function call(method: string, route: string, who?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who) headers.authorization = `Bearer ${t[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function publish(who: string, metadata: ServableMetadata) {
  const accepted = await publishRaw(url, metadata, [{ name: 'mlp.onnx', bytes: model }], { authorization: `Bearer ${t[who]}` });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  const task = await until('the publish', async () => {
    const reply = await call('GET', `/api/v1/tasks/${accepted.body.task_id}`, who);
    return reply.body.status === 'SUCCEEDED' || reply.body.status === 'FAILED' ? reply.body : undefined;
  }, 120_000);
  expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
}

/** The receiver's check, written from docs/webhooks.md: HMAC-SHA256 of `<timestamp>.<raw body>`, fresh timestamp. */
function verifySignature(request: Received, secret: string): boolean {
  const timestamp = request.headers['x-modelhub-timestamp'] as string;
  const given = request.headers['x-modelhub-signature-256'] as string;
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex')}`);
  return given !== undefined && Buffer.byteLength(given) === expected.length && timingSafeEqual(Buffer.from(given), expected);
}

const at = (route: string) => received.filter((request) => request.path === route);
const eventsAt = (route: string) => at(route).map((request) => JSON.parse(request.body) as { id: string; event: string; servable: string; version?: number; data: Record<string, unknown> });

beforeAll(async () => {
  receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const route = request.url ?? '/';
      received.push({ path: route, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), generation });
      response.statusCode = failing.has(route) ? 500 : 204;
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  await start();
  const make = async (key: string, user: string, admin = false) => {
    t[key] = (await app.hub.tokens.create({ user, scopes: admin ? ['admin'] : ['run', 'publish'], groups: [], created_by: 'local' })).token;
  };
  await make('alice', 'alice');
  await make('bob', 'bob');
  await make('root', 'root', true);
}, 60_000);

afterAll(async () => {
  await app?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('webhooks', () => {
  const secrets: Record<string, string> = {};
  const ids: Record<string, string> = {};

  it('lets only the owner or an admin register, and refuses URLs the hub must not reach', async () => {
    expect((await call('POST', '/api/v1/webhooks', 'bob', { url: `${receiverUrl}/bob`, owner: 'alice' })).status).toBe(403);
    expect((await call('POST', '/api/v1/webhooks', undefined, { url: `${receiverUrl}/x`, owner: 'alice' })).status).toBe(401);
    expect((await call('POST', '/api/v1/webhooks', undefined, { url: `${receiverUrl}/x` })).status).toBe(401);
    expect((await call('GET', '/api/v1/webhooks')).status).toBe(401);
    for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://[fe80::1]/', 'http://0.0.0.0:80/', 'ftp://example.org/', 'http://user:pw@127.0.0.1/']) {
      const refused = await call('POST', '/api/v1/webhooks', 'alice', { url: target });
      expect(refused.status, target).toBe(400);
      expect(refused.body.error.code, target).toBe('MODELHUB_WEBHOOK_URL_REFUSED');
    }
    // At most 100 per owner (an admin registers them for dave, who has no token).
    const made: string[] = [];
    for (let i = 0; i < 100; i += 1) {
      const reply = await call('POST', '/api/v1/webhooks', 'root', { url: `${receiverUrl}/dave/${i}`, owner: 'dave' });
      expect(reply.status).toBe(201);
      made.push(reply.body.id);
    }
    const tooMany = await call('POST', '/api/v1/webhooks', 'root', { url: `${receiverUrl}/dave/100`, owner: 'dave' });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.error.code).toBe('MODELHUB_CONFLICT');
    for (const id of made) expect((await call('DELETE', `/api/v1/webhooks/${id}`, 'root')).status).toBe(204);
    expect((await call('GET', '/api/v1/webhooks?owner=dave', 'root')).body.webhooks).toEqual([]);
    const unknownEvent = await call('POST', '/api/v1/webhooks', 'alice', { url: `${receiverUrl}/alice`, events: ['servable.eaten'] });
    expect(unknownEvent.status).toBe(400);
    expect(unknownEvent.body.error.code).toMatch(/^MODELHUB_/);
  });

  it("delivers a private servable's events, signed, to its owner's webhook and never to another user's", async () => {
    const alice = await call('POST', '/api/v1/webhooks', 'alice', { url: `${receiverUrl}/alice`, description: 'all of mine' });
    expect(alice.status).toBe(201);
    expect(alice.body).toMatchObject({ owner: 'alice', name: null, state: 'active', created_by: 'alice', events: expect.arrayContaining(['servable.published', 'drift.detected']) });
    expect(alice.body.secret).toMatch(/^whsec_/);
    secrets.alice = alice.body.secret;
    ids.alice = alice.body.id;
    const bob = await call('POST', '/api/v1/webhooks', 'bob', { url: `${receiverUrl}/bob`, secret: 'bob-chose-this-secret' });
    expect(bob.status).toBe(201);
    ids.bob = bob.body.id;
    // The secret is shown once: never in a read.
    expect((await call('GET', `/api/v1/webhooks/${ids.alice}`, 'alice')).body.secret).toBeUndefined();

    const secret = onnxMetadata('alice', 'secret', { visibility: 'private' });
    secret.servable.methods.run = { ...secret.servable.methods.run, method_details: { example_inputs: [[0.1, 0.2, 0.3, 0.4]] } };
    await publish('alice', secret);
    const published = await until('alice/secret published at the receiver', () => eventsAt('/alice').find((event) => event.event === 'servable.published'));
    expect(published).toMatchObject({ servable: 'alice/secret', version: 1, webhook_id: ids.alice, data: { visibility: 'private' } });
    // Sent side by side: the identifier's event may arrive after the publish's.
    await until('identifier.minted at the receiver', () => eventsAt('/alice').find((event) => event.event === 'identifier.minted'));
    for (const request of at('/alice')) {
      expect(verifySignature(request, secrets.alice!)).toBe(true);
      expect(verifySignature(request, 'another secret')).toBe(false);
      const body = JSON.parse(request.body);
      expect(request.headers['x-modelhub-event']).toBe(body.event);
      expect(request.headers['x-modelhub-delivery']).toBe(body.id);
      expect(request.headers['content-type']).toBe('application/json');
    }
    // Bob's own servable reaches his webhook, signed with the secret he chose; after it, nothing of alice's.
    await publish('bob', onnxMetadata('bob', 'open'));
    await until("bob/open published at bob's receiver", () => eventsAt('/bob').find((event) => event.event === 'servable.published'));
    await app.hub.webhooks.settled();
    expect(eventsAt('/bob').every((event) => event.servable === 'bob/open')).toBe(true);
    expect(at('/bob').every((request) => !request.body.includes('alice'))).toBe(true);
    expect(at('/bob').every((request) => verifySignature(request, 'bob-chose-this-secret'))).toBe(true);
    // Nor can bob read alice's webhook or its log.
    expect((await call('GET', `/api/v1/webhooks/${ids.alice}`, 'bob')).status).toBe(404);
    expect((await call('GET', `/api/v1/webhooks/${ids.alice}/deliveries`, 'bob')).status).toBe(404);
    expect((await call('DELETE', `/api/v1/webhooks/${ids.alice}`, 'bob')).status).toBe(404);
    expect((await call('GET', '/api/v1/webhooks', 'bob')).body.webhooks.map((w: { id: string }) => w.id)).toEqual([ids.bob]);
    expect((await call('GET', '/api/v1/webhooks?owner=alice', 'bob')).status).toBe(403);
    expect((await call('GET', '/api/v1/webhooks', 'root')).body.webhooks).toHaveLength(2);
    const audit = (await call('GET', '/api/v1/audit?action=webhook.create', 'root')).body.events;
    expect(audit.map((event: { target: string }) => event.target)).toEqual(expect.arrayContaining([ids.alice, ids.bob]));
    expect(JSON.stringify(audit)).not.toContain(secrets.alice);
    const log = (await call('GET', `/api/v1/webhooks/${ids.alice}/deliveries`, 'alice')).body.deliveries;
    expect(log.find((d: { event: string }) => d.event === 'servable.published')).toMatchObject({ state: 'delivered', attempts: 1, last_status: 204, payload: { servable: 'alice/secret' } });
  });

  it('tells the owner of a publish that failed', async () => {
    const accepted = await publishRaw(url, onnxMetadata('alice', 'broken'), [{ name: 'broken.onnx', bytes: new Uint8Array(64) }], { authorization: `Bearer ${t.alice}` });
    expect(accepted.status).toBe(202);
    const failed = await until('servable.build_failed at the receiver', () => eventsAt('/alice').find((event) => event.event === 'servable.build_failed'));
    expect(failed).toMatchObject({ servable: 'alice/broken', version: 1 });
  });

  it('fires drift.detected once when an example is changed behind the hub\'s back', async () => {
    await until('the first check of alice/secret', async () => {
      const reply = await call('GET', '/api/v1/servables/alice/secret/versions/1/reproducibility', 'alice');
      return reply.status === 200 ? reply.body : undefined;
    });
    const db = new Database(path.join(dir, 'reproducibility.db'));
    const row = db.prepare("SELECT examples FROM examples WHERE owner = 'alice' AND name = 'secret'").pluck().get() as string;
    const examples = JSON.parse(row) as { expected: number[][] }[];
    examples[0]!.expected[0]![1]! += 0.03;
    db.prepare("UPDATE examples SET examples = ? WHERE owner = 'alice' AND name = 'secret'").run(JSON.stringify(examples));
    db.close();
    for (let check = 0; check < 2; check += 1) {
      expect((await call('POST', '/api/v1/servables/alice/secret/verify', 'alice', {})).body.status).toBe('drifted');
    }
    await app.hub.webhooks.settled();
    const drift = await until('drift.detected at the receiver', () => eventsAt('/alice').find((event) => event.event === 'drift.detected'));
    expect(drift).toMatchObject({ servable: 'alice/secret', version: 1, data: { summary: expect.stringMatching(/^drifted: /) } });
    const log = (await call('GET', `/api/v1/webhooks/${ids.alice}/deliveries`, 'alice')).body.deliveries as { event: string }[];
    expect(log.filter((delivery) => delivery.event === 'drift.detected')).toHaveLength(1);
    expect(eventsAt('/alice').filter((event) => event.event === 'drift.detected')).toHaveLength(1);
    expect(eventsAt('/bob').some((event) => event.event === 'drift.detected')).toBe(false);
  });

  it('retries a failing receiver, then marks the delivery failed and the webhook failing', async () => {
    const hook = await call('POST', '/api/v1/webhooks', 'alice', { url: `${receiverUrl}/fail`, name: 'secret', events: ['servable.withdrawn'] });
    expect(hook.status).toBe(201);
    expect((await call('DELETE', '/api/v1/servables/alice/secret/versions/1?reason=superseded', 'alice')).status).toBe(200);
    const failed = await until('the webhook marked failing', async () => {
      const reply = await call('GET', `/api/v1/webhooks/${hook.body.id}`, 'alice');
      return reply.body.state === 'failing' ? reply.body : undefined;
    });
    expect(failed.failing_since).toEqual(expect.any(String));
    const attempts = at('/fail');
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((request) => request.headers['x-modelhub-delivery'])).size).toBe(1);
    expect(attempts.every((request) => verifySignature(request, hook.body.secret))).toBe(true);
    const [delivery] = (await call('GET', `/api/v1/webhooks/${hook.body.id}/deliveries`, 'alice')).body.deliveries;
    expect(delivery).toMatchObject({ event: 'servable.withdrawn', state: 'failed', attempts: 3, last_status: 500, next_attempt_at: null, payload: { servable: 'alice/secret', version: 1, data: { reason: 'superseded' } } });
    expect(delivery.last_error).toMatch(/HTTP 500/);
    // The owner's other webhook heard of it too, once.
    await until('the withdrawal at alice', () => eventsAt('/alice').find((event) => event.event === 'servable.withdrawn'));

    // Listed and removed with the CLI.
    const cli = async (...args: string[]) => {
      const out: string[] = [];
      const exitCode = process.exitCode;
      await buildCli({ out: (line) => out.push(line), err: (line) => out.push(line) }).parseAsync(['node', 'modelhub', '--url', url, '--token', t.alice!, '--json', ...args]);
      const code = process.exitCode;
      process.exitCode = exitCode;
      return { body: JSON.parse(out.join('\n')), code };
    };
    const listed = (await cli('webhook', 'ls')).body.webhooks as { id: string; state: string }[];
    expect(listed.find((w) => w.id === hook.body.id)?.state).toBe('failing');
    expect((await cli('webhook', 'deliveries', hook.body.id)).body.deliveries[0]).toMatchObject({ state: 'failed', attempts: 3 });
    expect((await cli('webhook', 'rm', hook.body.id)).code).toBeFalsy();
    expect((await call('GET', `/api/v1/webhooks/${hook.body.id}`, 'alice')).status).toBe(404);
    expect((await call('GET', `/api/v1/webhooks/${hook.body.id}/deliveries`, 'alice')).status).toBe(404);
  });

  it('keeps queued deliveries across a restart of the hub', async () => {
    await app.close();
    // Retries far enough apart that the first hub is stopped before its second attempt.
    const slow = { MODELHUB_WEBHOOK_ATTEMPTS: '10', MODELHUB_WEBHOOK_BACKOFF_SECONDS: '3' };
    await start(slow);
    const hook = await call('POST', '/api/v1/webhooks', 'alice', { url: `${receiverUrl}/flaky`, events: ['servable.published'] });
    expect(hook.status).toBe(201);
    await publish('alice', onnxMetadata('alice', 'later'));
    const first = await until('the first attempt', () => at('/flaky')[0]);
    await app.close();
    const stoppedAt = generation;
    failing.delete('/flaky');
    await start(slow);
    const again = await until('the delivery after the restart', () => at('/flaky').find((request) => request.generation > stoppedAt));
    expect(again.headers['x-modelhub-delivery']).toBe(first.headers['x-modelhub-delivery']);
    expect(again.body).toBe(first.body);
    expect(verifySignature(again, hook.body.secret)).toBe(true);
    const [delivery] = await until('the delivery recorded', async () => {
      const log = (await call('GET', `/api/v1/webhooks/${hook.body.id}/deliveries`, 'alice')).body.deliveries;
      return log[0]?.state === 'delivered' ? log : undefined;
    });
    expect(delivery).toMatchObject({ event: 'servable.published', state: 'delivered', last_status: 204, payload: { servable: 'alice/later' } });
  }, 120_000);
});
