/**
 * The `modelhub` command and the SDK against a real hub: init, publish, run, describe, list,
 * search, cite, versions, withdraw, with exit codes and `--json` output as scripts see them.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../sdk/hub-client.ts';
import { SearchQueryBuilder } from '../../sdk/query-builder.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const VAD = path.join(ROOT, 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx');
const work = mkdtempSync(path.join(tmpdir(), 'sdk-cli-e2e-'));
let hub: TestHub;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, ...args],
      { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const json = async (...args: string[]) => {
  const result = await cli('--json', ...args);
  if (result.code !== 0) throw new Error(`modelhub ${args.join(' ')} exited ${result.code}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

/** 512 samples of a 440 Hz tone at 16 kHz, and the model's zero state. */
const chunk = Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
const inputs = { input: [chunk], state: [[Array(128).fill(0)], [Array(128).fill(0)]], sr: 16000 };

async function reference(): Promise<number> {
  const session = await ort.InferenceSession.create(VAD);
  const out = await session.run({
    input: new ort.Tensor('float32', Float32Array.from(chunk), [1, 512]),
    state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
    sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
  });
  const probability = (out.output!.data as Float32Array)[0]!;
  await session.release();
  return probability;
}

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub?.stop();
});

describe('modelhub CLI against a running hub', () => {
  it('init writes a template; publish refuses it until filled, then publishes', async () => {
    const model = path.join(work, 'silero_vad_v5.onnx');
    copyFileSync(VAD, model);
    expect((await cli('init', model, '--owner', 'silero')).code).toBe(0);

    const refused = await cli('publish', model);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('MODELHUB_INVALID_METADATA');
    expect(refused.stderr).toContain('/datacite/titles/0/title');

    const template = JSON.parse(readFileSync(path.join(work, 'modelhub.json'), 'utf8'));
    template.hub.name = 'vad';
    template.hub.domains = ['speech', 'audio'];
    template.datacite.titles = [{ title: 'Silero voice activity detector' }];
    template.datacite.creators = [{ name: 'Silero, Team' }];
    template.datacite.descriptions = [{ description: 'Probability of speech in a 32 ms chunk of 16 kHz audio' }];
    writeFileSync(path.join(work, 'modelhub.json'), JSON.stringify(template));

    const human = await cli('publish', model);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('accepted silero/vad@1');
    expect(human.stdout).toMatch(/✓ inspect/);
    expect(human.stdout).toContain('published silero/vad@1');

    const task = await json('publish', model, '--title', 'Silero VAD, version 5');
    expect(task).toMatchObject({ kind: 'publish', status: 'SUCCEEDED', servable: 'silero/vad', version: 2 });
  });

  it('runs the servable and gives what onnxruntime gives locally', async () => {
    writeFileSync(path.join(work, 'inputs.json'), JSON.stringify(inputs));
    const reply = await json('run', 'silero/vad@1', '--input-file', 'inputs.json');
    expect(reply).toMatchObject({ servable: 'silero/vad', version: 1 });
    expect(reply.output.output[0][0]).toBeCloseTo(await reference(), 5);

    const sdkReply = await new HubClient({ url: hub.url }).run('silero/vad', inputs);
    expect(sdkReply.version).toBe(2);
    expect(sdkReply.output).toEqual(reply.output);

    const bad = await cli('run', 'silero/vad', '{"input": [[1, 2]]}');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error MODELHUB_INVALID_INPUTS: .*state/m);
  });

  it('describes, lists, searches and cites', async () => {
    const doc = await json('describe', 'silero/vad@1');
    expect(doc.hub).toMatchObject({ owner: 'silero', name: 'vad', version: 1, domains: ['speech', 'audio'] });
    expect(doc.datacite.titles[0].title).toBe('Silero voice activity detector');

    const versions = await json('versions', 'silero/vad');
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);

    const listed = await json('ls', '--owner', 'silero');
    expect(listed.map((i: { servable: string }) => i.servable)).toEqual(['silero/vad']);

    const search = await json('search', 'silero', '--domain', 'speech');
    expect(search.hits.map((h: { servable: string; version: number }) => `${h.servable}@${h.version}`)).toEqual(['silero/vad@2']);
    const all = await new HubClient({ url: hub.url }).search(new SearchQueryBuilder().matchOwner('silero').latestOnly(false));
    expect(all.hits.map((h) => h.version).sort()).toEqual([1, 2]);

    const bibtex = await cli('cite', 'silero/vad@1');
    expect(bibtex.code, bibtex.stderr).toBe(0);
    expect(bibtex.stdout).toMatch(/^@\w+\{/);
    expect(bibtex.stdout).toContain('Silero voice activity detector');
  });

  it('follows cursors through every page, and withdraws to a tombstone', async () => {
    const second = path.join(work, 'second');
    copyFileSync(VAD, `${second}.onnx`);
    const published = await json('publish', `${second}.onnx`, '--metadata', path.join(work, 'modelhub.json'), '--name', 'silero/vad-copy');
    expect(published.status).toBe('SUCCEEDED');

    const client = new HubClient({ url: hub.url });
    const names: string[] = [];
    for await (const item of client.listServables({ owner: 'silero', pageSize: 1 })) names.push(item.servable);
    expect(names.sort()).toEqual(['silero/vad', 'silero/vad-copy']);

    const withdrawn = await json('withdraw', 'silero/vad-copy', '--reason', 'duplicate');
    expect(withdrawn).toMatchObject({ withdrawn: [1], reason: 'duplicate' });
    const gone = await cli('--json', 'describe', 'silero/vad-copy');
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout).error.code).toMatch(/^MODELHUB_(SERVABLE_WITHDRAWN|SERVABLE_NOT_FOUND)$/);
    const identifier = published.result?.identifier ?? `modelhub:silero/vad-copy/v1`;
    const resolved = await client.resolveIdentifier(identifier);
    expect(resolved).toMatchObject({ servable: 'silero/vad-copy', version: 1, withdrawn: true });
  });
});
