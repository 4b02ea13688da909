/**
 * A hub configured for S3 (MODELHUB_BLOBS=s3) against a real S3 server, Ceph's radosgw: it
 * publishes and serves the same demo models as the default, its files are in the bucket and not
 * on local disk, and a restart serves them again from S3. In CI a missing radosgw fails this file;
 * elsewhere it is skipped, saying why.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRadosgw, type Radosgw } from '../helpers/radosgw.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, postJson } from '../helpers/hub-http.ts';

const started = await startRadosgw();

if (!started.ok) {
  if (process.env.CI) {
    describe('a hub on S3 (radosgw)', () => {
      it('has a radosgw to test against (CI installs and starts one)', () => {
        throw new Error(`radosgw could not be started: ${started.reason}`);
      });
    });
  } else {
    describe.skip(`a hub on S3 (skipped: no radosgw here: ${started.reason})`, () => {
      it('publishes and serves the demo models from S3', () => undefined);
    });
  }
} else {
  const gateway: Radosgw = started.gateway;
  const bucket = `modelhub-e2e-${process.pid}`;
  const env = {
    MODELHUB_BLOBS: 's3',
    MODELHUB_S3_ENDPOINT: gateway.endpoint,
    MODELHUB_S3_BUCKET: bucket,
    MODELHUB_S3_ACCESS_KEY: gateway.accessKey,
    MODELHUB_S3_SECRET_KEY: gateway.secretKey,
  };
  let hub: TestHub;
  let dataDir: string;

  describe('a hub on S3 (radosgw)', () => {
    beforeAll(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-s3-'));
      hub = await startTestHub({ env, dataDir, demo: true, timeoutMs: 300_000 });
    });
    afterAll(async () => {
      await hub?.stop();
      await gateway.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('publishes and serves the demo models from the bucket', async () => {
      const request = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'mnist-mlp.request.json'), 'utf8')) as { inputs: number[][] };
      const run = await postJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`, request);
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      const probabilities = run.body.output[0] as number[];
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      const vad = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'silero-vad.request.json'), 'utf8')) as unknown;
      expect((await postJson(`${hub.url}/api/v1/servables/demo/silero-vad/run`, vad)).status).toBe(200);

      // The model files are objects in the bucket, not blobs on local disk.
      const described = await getJson(`${hub.url}/api/v1/servables/demo/mnist-mlp`);
      const sha = described.body.hub.files[0].sha256 as string;
      const url = new URL(gateway.endpoint);
      const client = new Minio.Client({
        endPoint: url.hostname,
        port: Number(url.port),
        useSSL: url.protocol === 'https:',
        accessKey: gateway.accessKey,
        secretKey: gateway.secretKey,
        pathStyle: true,
      });
      const stat = await client.statObject(bucket, `blobs/${sha}`);
      expect(stat.size).toBe(described.body.hub.files[0].size);
      expect(fs.existsSync(path.join(dataDir, 'blobs'))).toBe(false);
      const ready = await getJson(`${hub.url}/v2/health/ready`);
      expect(ready.body.backends[0]).toMatchObject({ ok: true, backend: 's3' });
    });

    it('serves them again after a restart with an empty local cache', async () => {
      await hub.stop();
      fs.rmSync(path.join(dataDir, 'blob-cache'), { recursive: true, force: true });
      fs.rmSync(path.join(dataDir, 'servables'), { recursive: true, force: true });
      hub = await startTestHub({ env, dataDir, demo: true });
      // Nothing was published again: the same version 1, its files fetched back from the bucket.
      const versions = await getJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/versions`);
      expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
      const request = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo', 'mnist-mlp.request.json'), 'utf8')) as unknown;
      const run = await postJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`, request);
      expect(run.status, JSON.stringify(run.body)).toBe(200);
    });
  });
}
