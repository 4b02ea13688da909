/**
 * Webhooks and usage on hub replicas sharing PostgreSQL (docs/webhooks.md, docs/usage.md): a webhook
 * registered on one replica hears of a publish on the other, delivered once and signed; runs served
 * by both replicas add up in one usage report with distinct callers counted across them.
 */
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { getJson, onnxMetadata, postJson, publishRaw } from '../helpers/hub-http.ts';
import { describePostgres, freshDatabase } from '../helpers/postgres.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { PostgresDatabase } from '../../hub-server/adapters/postgres-database.ts';
import { PostgresTokenStore } from '../../hub-server/adapters/postgres-token-store.ts';

const MODEL = buildMlpOnnx({ inputSize: 4, hidden: 5, classes: 3 });

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describePostgres('webhooks and usage on replicas sharing PostgreSQL', () => {
  let database: { url: string; drop: () => Promise<void> };
  let first: TestHub;
  let second: TestHub;
  let secondData = '';
  let receiver: http.Server;
  let receiverUrl = '';
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const t: Record<string, string> = {};
  const as = (who: string) => ({ authorization: `Bearer ${t[who]}` });

  beforeAll(async () => {
    database = await freshDatabase();
    const db = PostgresDatabase.open(database.url);
    await db.migrate();
    const tokens = await PostgresTokenStore.open(db);
    for (const user of ['alice', 'bob']) t[user] = (await tokens.create({ user, scopes: ['run', 'publish'], groups: [], created_by: 'local' })).token;
    await tokens.close();
    await db.close();

    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.statusCode = 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    const env = { MODELHUB_DATABASE_URL: database.url, MODELHUB_AUTH: 'tokens', MODELHUB_WEBHOOK_ALLOW_LOOPBACK: 'true', MODELHUB_USAGE_FLUSH_SECONDS: '0.2', MODELHUB_VERIFY_INTERVAL: '0' };
    first = await startTestHub({ env });
    secondData = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-replica-'));
    fs.mkdirSync(path.join(first.dataDir, 'blobs'), { recursive: true });
    fs.symlinkSync(path.join(first.dataDir, 'blobs'), path.join(secondData, 'blobs'));
    second = await startTestHub({ env, dataDir: secondData });
  }, 180_000);

  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
    if (secondData) fs.rmSync(secondData, { recursive: true, force: true });
    await database?.drop();
  });

  it('delivers a publish on one replica to a webhook registered on the other, once', async () => {
    const hook = await postJson(`${first.url}/api/v1/webhooks`, { url: `${receiverUrl}/alice`, events: ['servable.published'] }, as('alice'));
    expect(hook.status).toBe(201);
    expect((await getJson(`${second.url}/api/v1/webhooks/${hook.body.id}`, as('alice'))).body.url).toBe(`${receiverUrl}/alice`);
    const accepted = await publishRaw(second.url, onnxMetadata('alice', 'shared'), [{ name: 'mlp.onnx', bytes: MODEL }], as('alice'));
    expect(accepted.status).toBe(202);
    const delivered = await until('the delivery recorded as delivered', async () => {
      const log = (await getJson(`${first.url}/api/v1/webhooks/${hook.body.id}/deliveries`, as('alice'))).body.deliveries;
      return log[0]?.state === 'delivered' ? log : undefined;
    }, 120_000);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ event: 'servable.published', attempts: 1, payload: { servable: 'alice/shared', version: 1 } });
    const copies = received.filter((request) => request.headers['x-modelhub-delivery'] === delivered[0].id);
    expect(copies).toHaveLength(1);
    const { headers, body } = copies[0]!;
    const timestamp = headers['x-modelhub-timestamp'] as string;
    expect(headers['x-modelhub-signature-256']).toBe(`sha256=${createHmac('sha256', hook.body.secret).update(`${timestamp}.${body}`).digest('hex')}`);
  }, 180_000);

  it('adds up the runs both replicas served in one usage report', async () => {
    for (let i = 0; i < 2; i += 1) expect((await postJson(`${first.url}/api/v1/servables/alice/shared/run`, { inputs: [[0.1, 0.2, 0.3, i]] }, as('alice'))).status).toBe(200);
    expect((await postJson(`${second.url}/api/v1/servables/alice/shared/run`, { inputs: [[1, 2, 3, 4]] }, as('bob'))).status).toBe(200);
    const report = await until('runs of both replicas counted', async () => {
      const reply = await getJson(`${first.url}/api/v1/servables/alice/shared/usage`, as('alice'));
      return reply.body.totals?.runs === 3 ? reply.body : undefined;
    });
    expect(report.totals).toMatchObject({ runs: 3, errors: 0, distinct_callers: 2 });
    expect((await getJson(`${second.url}/api/v1/servables/alice/shared/usage`, as('bob'))).status).toBe(403);
  }, 120_000);
});
