/**
 * Taking a model home from a hub whose blob store is S3 (Ceph's radosgw, a real S3 server):
 * `?presigned=true` answers a time-limited link per file that S3 itself serves, with the published
 * bytes (sha256 recomputed here), and the archive is streamed from blobs the hub fetches from the
 * bucket. (Who may download is checked before either answer: test/e2e/download.test.ts.) In CI a
 * missing radosgw fails this file; elsewhere it is skipped, saying why.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { startRadosgw, type Radosgw } from '../helpers/radosgw.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { onnxMetadata, publishAndWait } from '../helpers/hub-http.ts';

const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 11) });
const README = new TextEncoder().encode('weights of a tiny MLP\n');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const started = await startRadosgw();

if (!started.ok) {
  if (process.env.CI) {
    describe('downloads from an S3 hub (radosgw)', () => {
      it('has a radosgw to test against (CI installs and starts one)', () => {
        throw new Error(`radosgw could not be started: ${started.reason}`);
      });
    });
  } else {
    describe.skip(`downloads from an S3 hub (skipped: no radosgw here: ${started.reason})`, () => {
      it('presigns links and streams the archive', () => undefined);
    });
  }
} else {
  const gateway: Radosgw = started.gateway;
  let hub: TestHub;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'download-s3-'));

  describe('downloads from an S3 hub (radosgw)', () => {
    beforeAll(async () => {
      hub = await startTestHub({
        env: {
          MODELHUB_BLOBS: 's3',
          MODELHUB_S3_ENDPOINT: gateway.endpoint,
          MODELHUB_S3_BUCKET: `modelhub-download-${process.pid}`,
          MODELHUB_S3_ACCESS_KEY: gateway.accessKey,
          MODELHUB_S3_SECRET_KEY: gateway.secretKey,
        },
        timeoutMs: 300_000,
      });
      const { task } = await publishAndWait(hub.url, onnxMetadata('s3', 'mlp'), [
        { name: 'mlp.onnx', bytes: MODEL },
        { name: 'NOTES.txt', bytes: README },
      ]);
      expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    });
    afterAll(async () => {
      await hub?.stop();
      await gateway.stop();
      fs.rmSync(work, { recursive: true, force: true });
    });

    it('?presigned=true gives a link per file that S3 serves with the published bytes', async () => {
      const response = await fetch(`${hub.url}/api/v1/servables/s3/mlp/versions/1/download?presigned=true`);
      const body = (await response.json()) as { expires_in: number; files: { path: string; sha256: string; size: number; url: string }[] };
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect(body.expires_in).toBe(3600);
      expect(body.files.map((f) => f.path).sort()).toEqual(['NOTES.txt', 'mlp.onnx']);
      const expected: Record<string, Uint8Array> = { 'mlp.onnx': MODEL, 'NOTES.txt': README };
      for (const file of body.files) {
        expect(file.url.startsWith(gateway.endpoint)).toBe(true);
        expect(file.url).toContain('X-Amz-Signature=');
        const bytes = new Uint8Array(await (await fetch(file.url)).arrayBuffer());
        expect(sha256(bytes)).toBe(file.sha256);
        expect(file.sha256).toBe(sha256(expected[file.path]!));
      }
      // Tampering with the signature is refused by S3 itself.
      const forged = body.files[0]!.url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000');
      expect((await fetch(forged)).status).toBe(403);
    });

    it('the archive streams from the bucket with the same bytes', async () => {
      const response = await fetch(`${hub.url}/api/v1/servables/s3/mlp/download`);
      expect(response.status).toBe(200);
      const archive = path.join(work, 'mlp.tar.gz');
      fs.writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
      await tar.x({ file: archive, cwd: work, strict: true });
      expect(sha256(fs.readFileSync(path.join(work, 's3-mlp-v1', 'model', 'mlp.onnx')))).toBe(sha256(MODEL));
      expect(fs.readFileSync(path.join(work, 's3-mlp-v1', 'SHA256SUMS'), 'utf8')).toContain(`${sha256(MODEL)}  model/mlp.onnx`);
    });
  });
}
