/**
 * A batch whose data set is an S3 prefix (`s3://bucket/prefix`), on a real S3 server (Ceph's
 * radosgw, as the S3 blob store tests start it): the NDJSON objects under the prefix, in key
 * order, run as one data set with every record's result in order (checked against onnxruntime);
 * objects outside the prefix are not read; the CLI takes the prefix as its data argument; a bucket the operator did not allow is 403, an empty
 * prefix or a non-NDJSON object 400. In CI a missing radosgw fails this file; elsewhere it is
 * skipped, saying why.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as Minio from 'minio';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { onnxMetadata } from '../helpers/hub-http.ts';
import { batchResults, publishAs, submitBatch, userTokens, waitTask } from '../helpers/endpoint-hub.ts';
import { startRadosgw, type Radosgw } from '../helpers/radosgw.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const exec = promisify(execFile);

const SPEC = { inputSize: 4, hidden: 6, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 3) });
const row = (i: number) => [Math.sin(i), Math.cos(i * 0.3), (i % 7) / 7, -i / 100];

const started = await startRadosgw();

if (!started.ok) {
  if (process.env.CI) {
    describe('batch data sets under an S3 prefix', () => {
      it('has a radosgw to test against (CI installs and starts one)', () => {
        throw new Error(`radosgw could not be started: ${started.reason}`);
      });
    });
  } else {
    describe.skip(`batch data sets under an S3 prefix (skipped: no radosgw here: ${started.reason})`, () => {
      it('runs the NDJSON objects under a prefix', () => undefined);
    });
  }
} else {
  const gateway: Radosgw = started.gateway;
  const bucket = `modelhub-datasets-${process.pid}`;
  let hub: TestHub;
  let token = '';

  describe('batch data sets under an S3 prefix (radosgw)', () => {
    beforeAll(async () => {
      const url = new URL(gateway.endpoint);
      const client = new Minio.Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, pathStyle: true, accessKey: gateway.accessKey, secretKey: gateway.secretKey });
      await client.makeBucket(bucket);
      // Three parts under the prefix (the last without a final newline), one object beside it.
      const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => JSON.stringify([row(from + k)])).join('\n');
      await client.putObject(bucket, 'run-1/part-000.ndjson', Buffer.from(`${lines(0, 40)}\n`));
      await client.putObject(bucket, 'run-1/part-001.ndjson', Buffer.from(`${lines(40, 90)}\n`));
      await client.putObject(bucket, 'run-1/part-002.jsonl', Buffer.from(lines(90, 120)));
      await client.putObject(bucket, 'run-10/other.ndjson', Buffer.from(`${lines(500, 510)}\n`));
      await client.putObject(bucket, 'mixed/a.ndjson', Buffer.from(`${lines(0, 2)}\n`));
      await client.putObject(bucket, 'mixed/b.csv', Buffer.from('1,2,3,4\n'));
      hub = await startTestHub({
        env: {
          MODELHUB_AUTH: 'tokens',
          MODELHUB_S3_ENDPOINT: gateway.endpoint,
          MODELHUB_S3_ACCESS_KEY: gateway.accessKey,
          MODELHUB_S3_SECRET_KEY: gateway.secretKey,
          MODELHUB_BATCH_S3_BUCKETS: bucket,
        },
      });
      token = (await userTokens(hub, { alice: [] })).alice!;
      await publishAs(hub, token, onnxMetadata('alice', 'mlp'), [{ name: 'mlp.onnx', bytes: MODEL }]);
    }, 300_000);

    afterAll(async () => {
      await hub?.stop();
      await gateway.stop();
    });

    it('runs every NDJSON object under the prefix, in key order, with every result in order', async () => {
      const accepted = await submitBatch(hub.url, token, 'alice/mlp', '', '', { s3: `s3://${bucket}/run-1/`, chunk_size: '50' });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const task = await waitTask(hub.url, accepted.body.task_id, token, 120_000);
      expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
      // 120 records: run-10/ shares the text "run-1" but is not under the prefix "run-1/".
      expect(task.result).toMatchObject({ records: 120, succeeded: 120, failed: 0 });
      const rows = Array.from({ length: 120 }, (_, i) => row(i));
      const session = await ort.InferenceSession.create(MODEL);
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
      const reference = Array.from(out.y!.data as Float32Array);
      await session.release();
      const lines = await batchResults(hub.url, token, accepted.body.task_id);
      expect(lines.map((line) => line.line)).toEqual(rows.map((_, i) => i + 1));
      for (const [i, line] of lines.entries()) (line.output[0] as number[]).forEach((value, j) => expect(value).toBeCloseTo(reference[i * 3 + j]!, 5));

      // The CLI (and so the SDK) names the prefix as its data argument: the same results.
      const file = path.join(os.tmpdir(), `modelhub-s3-results-${process.pid}.ndjson`);
      await exec(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', token, 'batch', 'alice/mlp', `s3://${bucket}/run-1/`, '-o', file], { cwd: ROOT });
      expect(fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual(lines);
      fs.rmSync(file, { force: true });
    }, 180_000);

    it('refuses a bucket the operator did not allow (403), an empty prefix and a non-NDJSON object (400)', async () => {
      const forbidden = await submitBatch(hub.url, token, 'alice/mlp', '', '', { s3: 's3://someone-elses/data/' });
      expect(forbidden.status, JSON.stringify(forbidden.body)).toBe(403);
      expect(forbidden.body.error.code).toBe('MODELHUB_FORBIDDEN');
      const empty = await submitBatch(hub.url, token, 'alice/mlp', '', '', { s3: `s3://${bucket}/nothing-here/` });
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toMatch(/no objects under/);
      const mixed = await submitBatch(hub.url, token, 'alice/mlp', '', '', { s3: `s3://${bucket}/mixed/` });
      expect(mixed.status).toBe(400);
      expect(mixed.body.error.message).toMatch(/mixed\/b\.csv is not NDJSON/);
      const bad = await submitBatch(hub.url, token, 'alice/mlp', '', '', { s3: 'https://example.org/x' });
      expect(bad.status).toBe(400);
    });
  });
}
