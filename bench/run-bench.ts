/**
 * `npm run bench`: the hub against the floor (bench/baseline-server.ts) on the same models, loaded by
 * autocannon in the same run, so every figure is a ratio to what bare Node + onnxruntime does on this
 * machine right now. Writes bench/results.json and prints a table; bench/README.md says how to read it.
 *
 *   npm run bench                  # 5 s per load
 *   npm run bench -- --duration 10 # longer, steadier figures
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';
import { buildMnistClassifier, mnistSplit } from '../builder/demo/mnist-classifier.ts';
import { buildMlpOnnx } from '../builder/demo/onnx-writer.ts';
import { buildDeepMlpOnnx } from './deep-mlp.ts';
import { benchContainers } from './container-bench.ts';
import { startTestHub, ROOT, type TestHub } from '../test/helpers/test-hub.ts';
import { onnxMetadata, publishAndWait } from '../test/helpers/hub-http.ts';

const require = createRequire(import.meta.url);
const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const DURATION = argument('duration', 5);
const onlyIndex = process.argv.indexOf('--only');
/** `--only deep` runs the scenarios whose id matches (a regular expression); all by default. */
const ONLY = new RegExp(onlyIndex >= 0 ? process.argv[onlyIndex + 1]! : '.');
const BIG_FLOATS = 262_144; // 1 MiB of float32
const HUB_ENV = { MODELHUB_WORKER_THREADS: process.env.MODELHUB_WORKER_THREADS ?? '0' };

interface Load {
  url: string;
  connections: number;
  headers?: Record<string, string>;
  /** A fresh body per request (defeats the result cache), or one fixed body. */
  body: () => string | Buffer;
}

interface Measured {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

async function measure(load: Load, seconds = DURATION): Promise<Measured> {
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...load.headers },
    requests: [{ setupRequest: (request) => ({ ...request, body: load.body() }) }],
  });
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function startBaseline(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/baseline-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ url: match[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`the baseline server exited with ${code}: ${output}`)));
  });
}

/** MNIST request bodies; `unique` perturbs the first pixel by a counter so no two are alike. */
function mnistBodies(unique: boolean): () => string {
  const digits = mnistSplit().test.slice(0, 64).map((d) => Array.from(d.pixels));
  const tails = digits.map((pixels) => pixels.slice(1).join(','));
  let counter = 0;
  return () => {
    counter++;
    const i = counter % tails.length;
    const first = unique ? counter / 1e9 : digits[i]![0]!;
    return `{"inputs":[[${first},${tails[i]}]]}`;
  };
}

function sileroBodies(): () => string {
  const samples = Array.from({ length: 511 }, (_, i) => Math.round(Math.sin((2 * Math.PI * 220 * (i + 1)) / 16000) * 0.5 * 1e4) / 1e4);
  const tail = `${samples.join(',')}]],"state":[[[${Array(128).fill(0).join(',')}]],[[${Array(128).fill(0).join(',')}]]],"sr":16000}}`;
  let counter = 0;
  return () => `{"inputs":{"input":[[${++counter / 1e9},${tail}`;
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-'));
  console.log(`building the MNIST classifier and a 1 MiB-input model in ${work} ...`);
  const mnistFile = path.join(work, 'mnist-mlp.onnx');
  fs.writeFileSync(mnistFile, (await buildMnistClassifier()).onnx);
  const bigFile = path.join(work, 'big-input.onnx');
  const deepFile = path.join(work, 'deep-mlp.onnx');
  fs.writeFileSync(deepFile, buildDeepMlpOnnx());
  fs.writeFileSync(bigFile, buildMlpOnnx({ inputSize: BIG_FLOATS, hidden: 4, classes: 4, inputName: 'x', outputName: 'y' }));
  const sileroFile = path.join(path.dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_v5.onnx');

  let hub: TestHub | undefined;
  let baseline: ChildProcess | undefined;
  try {
    console.log('starting the hub (demo servables) and the baseline server ...');
    hub = await startTestHub({ demo: true, env: HUB_ENV, timeoutMs: 300_000 });
    const floor = await startBaseline({ MNIST_MODEL: mnistFile, DEEP_MODEL: deepFile, SILERO_MODEL: sileroFile, BIG_MODEL: bigFile });
    baseline = floor.child;

    const mnistBytes = fs.readFileSync(mnistFile);
    const publish = async (name: string, file: string, options: Record<string, unknown>) => {
      const metadata = onnxMetadata('bench', name);
      metadata.servable.options = options;
      const { task } = await publishAndWait(hub!.url, metadata, [{ name: path.basename(file), bytes: fs.readFileSync(file) }]);
      if (task.status !== 'SUCCEEDED') throw new Error(`publishing bench/${name} failed: ${JSON.stringify(task.error)}`);
    };
    await publish('mnist-unbatched', mnistFile, { batching: { enabled: false } });
    await publish('mnist-batched', mnistFile, { batching: { enabled: true, max_batch_size: 64 } });
    await publish('big-input', bigFile, {});
    await publish('deep-unbatched', deepFile, { batching: { enabled: false } });
    await publish('deep-batched', deepFile, { batching: { enabled: true, max_batch_size: 64, ...(process.env.BENCH_DELAY_US ? { max_queue_delay_us: Number(process.env.BENCH_DELAY_US) } : {}) } });
    const demoDoc = (await (await fetch(`${hub.url}/api/v1/servables/demo/mnist-mlp`)).json()) as { hub: { files: { sha256: string }[] } };
    const { createHash } = await import('node:crypto');
    const sameModel = demoDoc.hub.files[0]?.sha256 === createHash('sha256').update(mnistBytes).digest('hex');

    const api = (servable: string) => `${hub!.url}/api/v1/servables/${servable}/run`;
    const bigValues = Float32Array.from({ length: BIG_FLOATS }, (_, i) => Math.round(Math.sin(i) * 1e4) / 1e4);
    const bigBytes = Buffer.from(bigValues.buffer);
    const v2Json = JSON.stringify({ inputs: [{ name: 'x', shape: [1, BIG_FLOATS], datatype: 'FP32', data: Array.from(bigValues) }] });
    const v2Header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, BIG_FLOATS], datatype: 'FP32', parameters: { binary_data_size: bigBytes.length } }] }));
    const v2Binary = Buffer.concat([v2Header, bigBytes]);

    const loads: Record<string, Load> = {};
    for (const c of [1, 16, 64]) {
      loads[`floor-mnist-c${c}`] = { url: `${floor.url}/mnist`, connections: c, body: mnistBodies(true) };
      loads[`hub-mnist-unbatched-c${c}`] = { url: api('bench/mnist-unbatched'), connections: c, body: mnistBodies(true) };
      loads[`hub-mnist-batched-c${c}`] = { url: api('bench/mnist-batched'), connections: c, body: mnistBodies(true) };
    }
    loads['hub-mnist-cached-c64'] = { url: api('demo/mnist-mlp'), connections: 64, body: mnistBodies(false) };
    for (const c of [1, 64]) {
      loads[`floor-deep-c${c}`] = { url: `${floor.url}/deep`, connections: c, body: mnistBodies(true) };
      loads[`hub-deep-unbatched-c${c}`] = { url: api('bench/deep-unbatched'), connections: c, body: mnistBodies(true) };
      loads[`hub-deep-batched-c${c}`] = { url: api('bench/deep-batched'), connections: c, body: mnistBodies(true) };
    }
    loads['floor-silero-c16'] = { url: `${floor.url}/silero`, connections: 16, body: sileroBodies() };
    loads['hub-silero-c16'] = { url: api('demo/silero-vad'), connections: 16, body: sileroBodies() };
    loads['floor-big-c8'] = { url: `${floor.url}/big`, connections: 8, headers: { 'content-type': 'application/octet-stream' }, body: () => bigBytes };
    loads['hub-v2-json-c8'] = { url: `${hub.url}/v2/models/bench.big-input/infer`, connections: 8, body: () => v2Json };
    loads['hub-v2-binary-c8'] = {
      url: `${hub.url}/v2/models/bench.big-input/infer`,
      connections: 8,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(v2Header.length) },
      body: () => v2Binary,
    };

    const allScenarios = [
      ...[1, 16, 64].flatMap((c) => [
        { id: `mlp-batch1-c${c}`, title: `MNIST MLP, batch 1, ${c} conn., batching off`, hub: `hub-mnist-unbatched-c${c}`, floor: `floor-mnist-c${c}` },
        { id: `mlp-batched-c${c}`, title: `MNIST MLP, batch 1, ${c} conn., dynamic batching`, hub: `hub-mnist-batched-c${c}`, floor: `floor-mnist-c${c}` },
      ]),
      { id: 'mlp-cache-c64', title: 'MNIST MLP, identical inputs (cache hits), 64 conn.', hub: 'hub-mnist-cached-c64', floor: 'floor-mnist-c64' },
      ...[1, 64].flatMap((c) => [
        { id: `deep-batch1-c${c}`, title: `deep MLP 784-2048-2048-10, ${c} conn., batching off`, hub: `hub-deep-unbatched-c${c}`, floor: `floor-deep-c${c}` },
        { id: `deep-batched-c${c}`, title: `deep MLP 784-2048-2048-10, ${c} conn., dynamic batching`, hub: `hub-deep-batched-c${c}`, floor: `floor-deep-c${c}` },
      ]),
      { id: 'silero-c16', title: 'Silero VAD, 16 conn.', hub: 'hub-silero-c16', floor: 'floor-silero-c16' },
      { id: 'v2-json-1mb-c8', title: 'v2 JSON, 1 MiB FP32 input, 8 conn.', hub: 'hub-v2-json-c8', floor: 'floor-big-c8' },
      { id: 'v2-binary-1mb-c8', title: 'v2 binary, 1 MiB FP32 input, 8 conn.', hub: 'hub-v2-binary-c8', floor: 'floor-big-c8' },
    ].filter((s) => ONLY.test(s.id));
    // Floor and hub loads alternate (each floor load right before the hub loads it is compared with)
    // so that drift in the machine's load hits both alike.
    const order = [...new Set(allScenarios.flatMap((s) => [s.floor, s.hub]))];

    // Load each servable and warm the JIT on every path before anything is measured.
    console.log('warming up ...');
    for (const id of order) {
      const warm = await measure(loads[id]!, 1);
      if (warm.non2xx > 0 || warm.errors > 0) throw new Error(`${id}: ${warm.non2xx} non-2xx replies and ${warm.errors} errors while warming up`);
    }

    // The batcher's sums before and after a load give that load's mean batch size.
    const batchSums = async (): Promise<Record<string, [number, number]>> => {
      const text = await (await fetch(`${hub!.url}/metrics`)).text();
      const sums: Record<string, [number, number]> = {};
      for (const match of text.matchAll(/^modelhub_batch_size_(sum|count)\{servable="([^"]+)",version="\d+"\} (\S+)$/gm)) {
        const entry = (sums[match[2]!] ??= [0, 0]);
        entry[match[1] === 'sum' ? 0 : 1] = Number(match[3]);
      }
      return sums;
    };
    const results: Record<string, Measured> = {};
    const meanBatchSizes: Record<string, number> = {};
    for (const id of order) {
      const before = await batchSums();
      results[id] = await measure(loads[id]!);
      const after = await batchSums();
      const servable = /\/servables\/(.+)\/run$/.exec(loads[id]!.url)?.[1];
      const [sum, count] = servable && after[servable] ? [after[servable][0] - (before[servable]?.[0] ?? 0), after[servable][1] - (before[servable]?.[1] ?? 0)] : [0, 0];
      if (count > 0) meanBatchSizes[id] = sum / count;
      const r = results[id];
      const batch = count > 0 ? `  mean batch ${(sum / count).toFixed(1)}` : '';
      console.log(`  ${id.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms${batch}${r.non2xx ? `  non-2xx ${r.non2xx}` : ''}`);
    }

    const scenarios = allScenarios.map((s) => ({
      ...s,
      hub: { load: s.hub, ...results[s.hub]!, ...(meanBatchSizes[s.hub] ? { mean_batch_size: meanBatchSizes[s.hub] } : {}) },
      floor: { load: s.floor, ...results[s.floor]! },
      throughput_ratio: results[s.hub]!.rps / results[s.floor]!.rps,
      // autocannon measures latency in whole milliseconds: a floor p99 under 1 ms gives no ratio.
      p99_ratio: results[s.floor]!.p99_ms > 0 ? results[s.hub]!.p99_ms / results[s.floor]!.p99_ms : null,
    }));
    const byId = Object.fromEntries(scenarios.map((s) => [s.id, s]));
    const ratio = (id: string) => byId[id]?.throughput_ratio ?? NaN;
    const p99 = (id: string) => byId[id]?.p99_ratio ?? NaN;
    const binaryOverJson = (results['hub-v2-binary-c8']?.rps ?? NaN) / (results['hub-v2-json-c8']?.rps ?? NaN);
    const targets = [
      { target: 'batch-1 throughput at 64 conn. >= 0.8 x floor (MNIST MLP)', measured: ratio('mlp-batch1-c64'), met: ratio('mlp-batch1-c64') >= 0.8 },
      { target: 'batch-1 p99 at 64 conn. <= 1.5 x floor (MNIST MLP)', measured: p99('mlp-batch1-c64'), met: p99('mlp-batch1-c64') <= 1.5 },
      { target: 'dynamic batching at 64 conn. >= 3 x floor (deep MLP)', measured: ratio('deep-batched-c64'), met: ratio('deep-batched-c64') >= 3 },
      { target: 'dynamic batching at 64 conn. >= 3 x floor (MNIST MLP)', measured: ratio('mlp-batched-c64'), met: ratio('mlp-batched-c64') >= 3 },
      { target: 'cache hits >= 1.5 x floor throughput', measured: ratio('mlp-cache-c64'), met: ratio('mlp-cache-c64') >= 1.5 },
      { target: 'v2 binary 1 MiB >= 3 x v2 JSON throughput', measured: binaryOverJson, met: binaryOverJson >= 3 },
    ].filter((t) => Number.isFinite(t.measured));

    // Containers last: their hubs start after the loads above are done, so they do not disturb them.
    let containers: Awaited<ReturnType<typeof benchContainers>> | undefined;
    if (ONLY.test('container')) {
      console.log('container servables ...');
      containers = await benchContainers(work, (line) => console.log(line));
    }

    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg_at_end: os.loadavg() },
      duration_s: DURATION,
      hub_env: HUB_ENV,
      demo_mnist_is_the_floor_model: sameModel,
      mean_batch_size: meanBatchSizes,
      scenarios,
      targets,
      containers,
    };
    fs.writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(report, null, 2)}\n`);

    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    console.log(`\n${row(['scenario', 'hub req/s', 'floor req/s', 'x floor', 'hub p99 ms', 'floor p99 ms', 'p99 x floor'])}`);
    console.log(row(Array(7).fill('---')));
    for (const s of scenarios) {
      console.log(row([s.title, s.hub.rps.toFixed(0), s.floor.rps.toFixed(0), s.throughput_ratio.toFixed(2), s.hub.p99_ms.toFixed(2), s.floor.p99_ms.toFixed(2), s.p99_ratio?.toFixed(2) ?? 'n/a']));
    }
    if (containers && 'skipped' in containers) console.log(`\ncontainers: SKIPPED, ${containers.skipped}`);
    else if (containers) {
      const { warm } = containers;
      console.log(`\ncontainer servable (scikit-learn, ${containers.docker_host}): publish to ready ${containers.publish_to_ready_s.toFixed(1)} s, first request ${containers.first_request_ms.toFixed(0)} ms`);
      console.log(`  warm p50 ${warm.docker.p50_ms.toFixed(2)} ms in Docker vs ${warm.process.p50_ms.toFixed(2)} ms with the embedded runner: ${containers.warm_latency_ratio.toFixed(2)} x`);
    }
    for (const t of targets) console.log(`${t.met ? 'MET    ' : 'NOT MET'}  ${t.target}: ${t.measured.toFixed(2)}`);
    console.log('\nwrote bench/results.json');
  } finally {
    baseline?.kill('SIGTERM');
    await hub?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
