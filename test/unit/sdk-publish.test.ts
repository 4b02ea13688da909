/**
 * The publish wire format and its progress events, against a plain HTTP server that parses the
 * upload with undici's own multipart parser. The real hub is exercised in test/e2e/sdk-cli.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskDocument } from '../../schemas/api.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { MetadataServable } from '../../sdk/models/metadata-servable.ts';
import { OnnxModel } from '../../sdk/models/onnx-model.ts';
import type { PublishEvent } from '../../sdk/operations/publish-servable.ts';

const VAD = path.resolve('node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx');
const HUMAN = path.resolve('node_modules/@vladmandic/human/models');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Received {
  bytes: number;
  metadata: unknown;
  files: { name: string; type: string; bytes: Buffer }[];
}

let server: http.Server;
let url: string;
const received: Received[] = [];
let polls = 0;

function task(status: TaskDocument['status']): TaskDocument {
  return {
    task_id: 't-1',
    kind: 'publish',
    status,
    servable: 'silero/vad',
    version: 1,
    created_at: '2026-01-01T00:00:00Z',
    steps: [
      { name: 'inspect', status: 'SUCCEEDED', message: 'opset 16' },
      { name: 'index', status: status === 'RUNNING' ? 'RUNNING' : 'SUCCEEDED' },
    ],
    log: status === 'RUNNING' ? ['inspected'] : ['inspected', 'indexed'],
  };
}

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === 'POST' && req.url === '/api/v1/servables') {
      const form = await new Request('http://x/', { method: 'POST', body, headers: { 'content-type': req.headers['content-type']! } }).formData();
      const files = await Promise.all(
        form.getAll('file').map(async (f) => {
          const file = f as File;
          return { name: file.name, type: file.type, bytes: Buffer.from(await file.arrayBuffer()) };
        }),
      );
      received.push({ bytes: body.length, metadata: JSON.parse(form.get('metadata') as string), files });
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ task_id: 't-1', servable: 'silero/vad', version: 1 }));
    } else if (req.url === '/api/v1/tasks/t-1') {
      polls++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(task(polls < 2 ? 'RUNNING' : 'SUCCEEDED')));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('publishServableProgress', () => {
  it('uploads metadata and the model file, reports true progress, then follows the build', async () => {
    const model = (await OnnxModel.create(VAD)).setName('silero/vad').setTitle('Silero VAD').setAuthors(['Silero, Team']);
    const events: PublishEvent[] = [];
    for await (const event of new HubClient({ url }).publishServableProgress(model, { intervalMs: 10 })) events.push(event);

    const got = received.at(-1)!;
    expect(got.metadata).toEqual(model.toMetadata());
    expect(got.files.map((f) => [f.name, sha(f.bytes)])).toEqual([['silero_vad_v5.onnx', sha(readFileSync(VAD))]]);

    const uploads = events.filter((e) => e.kind === 'upload');
    expect(uploads[0]).toEqual({ kind: 'upload', loaded: 0, total: got.bytes });
    expect(uploads.at(-1)).toEqual({ kind: 'upload', loaded: got.bytes, total: got.bytes });
    const loaded = uploads.map((u) => u.loaded);
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    expect(uploads.length).toBeGreaterThan(3);

    expect(events.filter((e) => e.kind !== 'upload')).toEqual([
      { kind: 'accepted', task_id: 't-1', servable: 'silero/vad', version: 1 },
      { kind: 'step', name: 'inspect', status: 'SUCCEEDED', message: 'opset 16' },
      { kind: 'step', name: 'index', status: 'RUNNING' },
      { kind: 'log', line: 'inspected' },
      { kind: 'step', name: 'index', status: 'SUCCEEDED' },
      { kind: 'log', line: 'indexed' },
      { kind: 'done', task: task('SUCCEEDED') },
    ]);
  });

  it('sends a model with sub-folders as one .tar.gz of its servable paths', async () => {
    const model = MetadataServable.fromDocument({
      servable: { type: 'tfjs', model_file: 'model/emotion.json', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } },
    })
      .setName('human/emotion')
      .setTitle('Emotion')
      .setAuthors(['Mandic, Vladimir'])
      .addFile(path.join(HUMAN, 'emotion.json'), 'model/emotion.json')
      .addFile(path.join(HUMAN, 'emotion.bin'), 'model/emotion.bin');
    const accepted = [];
    for await (const event of new HubClient({ url }).publishServableProgress(model, { wait: false })) {
      if (event.kind !== 'upload') accepted.push(event);
    }
    expect(accepted).toEqual([{ kind: 'accepted', task_id: 't-1', servable: 'silero/vad', version: 1 }]);
    const got = received.at(-1)!;
    expect(got.files.map((f) => [f.name, f.type])).toEqual([['servable.tar.gz', 'application/gzip']]);
    const dir = mkdtempSync(path.join(tmpdir(), 'sdk-publish-'));
    const archive = path.join(dir, 'got.tar.gz');
    await import('node:fs/promises').then((fs) => fs.writeFile(archive, got.files[0]!.bytes));
    await tar.extract({ file: archive, cwd: dir });
    for (const name of ['emotion.json', 'emotion.bin']) {
      expect(sha(readFileSync(path.join(dir, 'model', name)))).toBe(sha(readFileSync(path.join(HUMAN, name))));
      expect(statSync(path.join(dir, 'model', name)).size).toBe(statSync(path.join(HUMAN, name)).size);
    }
  });

  it('checks the metadata before uploading anything', async () => {
    const before = received.length;
    const model = (await OnnxModel.create(VAD)).setName('silero/vad');
    await expect(new HubClient({ url }).publishServable(model)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_METADATA' });
    expect(received.length).toBe(before);
  });
});
