/**
 * `npm run bench`: the hub against the floor (bench/baseline-server.ts) on the same models, loaded by
 * autocannon in the same run, so every figure is a ratio to what bare Node + onnxruntime does on this
 * machine right now. Writes bench/results.json and prints a table; bench/README.md says how to read it.
 *
 *   npm run bench                  # 5 s per load
 *   npm run bench -- --duration 10 # longer, steadier figures
 *   npm run bench -- --workers 0,1,2 --only 'batched|probe'
 *                                  # A/B: one hub per MODELHUB_WORKER_THREADS value, loads interleaved
 *   BENCH_QUICK=1 npm run bench    # a minute or two: issue 20's scenarios only, 2 s loads, 3 rounds
 *   npm run bench -- --rounds 5    # rounds of every load (floor and hub alternate in each); medians
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { buildMnistClassifier, mnistSplit } from '../builder/demo/mnist-classifier.ts';
import { buildMlpOnnx } from '../builder/demo/onnx-writer.ts';
import { buildDeepMlpOnnx } from './deep-mlp.ts';
import { benchContainers } from './container-bench.ts';
import { benchPublishUnderLoad } from './publish-under-load.ts';
import { benchFootprint, printFootprint, type FootprintResult } from './footprint.ts';
import { startTestHub, ROOT, type TestHub } from '../test/helpers/test-hub.ts';
import { onnxMetadata, publishAndWait } from '../test/helpers/hub-http.ts';

const require = createRequire(import.meta.url);
const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
/**
 * BENCH_QUICK=1: shorter loads and only the full-precision and binary scenarios (issue 20) unless
 * --only says otherwise, so that a change can be checked against the floor in a minute or two.
 */
const QUICK = process.env.BENCH_QUICK === '1';
const DURATION = argument('duration', QUICK ? 2 : 5);
const WARM_SECONDS = QUICK ? 0.5 : 1;
/** Every load runs this many times, floor and hub alternating within each round; ratios are medians. */
const ROUNDS = argument('rounds', 3);
const onlyIndex = process.argv.indexOf('--only');
/** `--only deep` runs the scenarios whose id matches (a regular expression); all by default. */
const ONLY = new RegExp(onlyIndex >= 0 ? process.argv[onlyIndex + 1]! : QUICK ? '^(fp-|v2-binary)' : '.');
const BIG_FLOATS = 262_144; // 1 MiB of float32
/** The full-precision scenarios' model (issue 20): 784→128→10, input `input`, output `output`. */
const MLP128 = { inputSize: 784, hidden: 128, classes: 10 };
const workersIndex = process.argv.indexOf('--workers');
/**
 * MODELHUB_WORKER_THREADS for each hub started: `--workers 0,1,2` starts three hubs and loads them
 * one after the other in each scenario (ids get `@w<n>`), for an A/B of runtimes off the event loop.
 */
const WORKERS = (workersIndex >= 0 ? process.argv[workersIndex + 1]! : (process.env.MODELHUB_WORKER_THREADS ?? '0')).split(',').map(Number);
const AB = WORKERS.length > 1;
const suffix = (threads: number) => (AB ? `@w${threads}` : '');
/** Cheap requests sent at this rate while a heavy load runs (the probe scenarios). */
const PROBE_INTERVAL_MS = 10;

interface Load {
  url: string;
  connections: number;
  headers?: Record<string, string>;
  /** A fresh body per request (defeats the result cache), or one fixed body. */
  body: () => string | Buffer;
  /** A cheap GET sent every PROBE_INTERVAL_MS on its own connection while this load runs. */
  probe?: string;
}

interface Probe {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

interface Measured {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Latency of the cheap probe requests sent during the load, at microsecond resolution. */
  probe?: Probe;
}

/**
 * Sends a GET to `url` every PROBE_INTERVAL_MS on one keep-alive connection (never more than one in
 * flight) until `stop` resolves: how long a cheap request waits while the server is busy.
 */
async function probeWhile(url: string, stop: Promise<unknown>): Promise<Probe> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      http
        .get(url, { agent }, (response) => {
          response.resume();
          response.on('end', () => {
            latencies.push(performance.now() - started);
            resolve();
          });
        })
        .on('error', reject);
    });
  while (!stopped) {
    const next = performance.now() + PROBE_INTERVAL_MS;
    await once();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { count: latencies.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: latencies[latencies.length - 1] ?? NaN };
}

async function measure(load: Load, seconds = DURATION): Promise<Measured> {
  const running = autocannon({
    url: load.url,
    connections: load.connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...load.headers },
    requests: [{ setupRequest: (request) => ({ ...request, body: load.body() }) }],
  });
  const probe = load.probe ? probeWhile(load.probe, running) : undefined;
  const result = await running;
  return {
    ...(probe ? { probe: await probe } : {}),
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

/**
 * Bodies as clients really write numbers: full double precision, as JSON.stringify (or Python's
 * json.dumps of numpy floats) writes them, about 15 KB a 784-float row. 64 rows of random doubles
 * are written once; the first number of each body is a fresh full-precision value (a counter times
 * the golden ratio, mod 1), so no two bodies are alike and the result cache never answers.
 * `wrap` puts the row into the route's body: the run route's `{"inputs": [[...]]}` or a v2 input.
 */
function fullPrecisionBodies(wrap: (row: string) => string): () => string {
  const tails = Array.from({ length: 64 }, () => JSON.stringify(Array.from({ length: MLP128.inputSize - 1 }, Math.random)).slice(1, -1));
  let counter = 0;
  return () => {
    counter++;
    return wrap(`${(counter * 0.6180339887498949) % 1},${tails[counter % tails.length]}`);
  };
}
const runRouteBody = (row: string) => `{"inputs":[[${row}]]}`;
const v2JsonBody = (row: string) => `{"inputs":[{"name":"input","shape":[1,${MLP128.inputSize}],"datatype":"FP32","data":[${row}]}]}`;

const median = (values: number[]): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function sileroBodies(): () => string {
  const samples = Array.from({ length: 511 }, (_, i) => Math.round(Math.sin((2 * Math.PI * 220 * (i + 1)) / 16000) * 0.5 * 1e4) / 1e4);
  const tail = `${samples.join(',')}]],"state":[[[${Array(128).fill(0).join(',')}]],[[${Array(128).fill(0).join(',')}]]],"sr":16000}}`;
  let counter = 0;
  return () => `{"inputs":{"input":[[${++counter / 1e9},${tail}`;
}

async function main(): Promise<void> {
  // The footprint first, on a quiet machine (no load generator running): restart time, idle memory
  // and the cost of `import 'modelhub'` (issue 16). Skipped when --only picks scenarios.
  let footprint: FootprintResult | undefined;
  if (!process.argv.includes('--only')) {
    console.log('footprint (compiled hub, demo servables) ...');
    footprint = await benchFootprint({ build: true, restarts: QUICK ? 3 : 5, log: (line) => console.log(line) });
    printFootprint(footprint);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-'));
  console.log(`building the MNIST classifier and a 1 MiB-input model in ${work} ...`);
  const mnistFile = path.join(work, 'mnist-mlp.onnx');
  fs.writeFileSync(mnistFile, (await buildMnistClassifier()).onnx);
  const bigFile = path.join(work, 'big-input.onnx');
  const deepFile = path.join(work, 'deep-mlp.onnx');
  fs.writeFileSync(deepFile, buildDeepMlpOnnx());
  const mlp128File = path.join(work, 'mlp128.onnx');
  fs.writeFileSync(mlp128File, buildMlpOnnx(MLP128));
  fs.writeFileSync(bigFile, buildMlpOnnx({ inputSize: BIG_FLOATS, hidden: 4, classes: 4, inputName: 'x', outputName: 'y' }));
  const sileroFile = path.join(path.dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_v5.onnx');

  const hubs: { threads: number; hub: TestHub }[] = [];
  let baseline: ChildProcess | undefined;
  try {
    for (const threads of WORKERS) {
      console.log(`starting a hub with MODELHUB_WORKER_THREADS=${threads} (demo servables) ...`);
      // The hub runs with the memory settings of `npm start` (scripts/serve.sh), so that the loads
      // measure it as deployed; BENCH_HUB_NODE_OPTIONS replaces the Node flags (e.g. --cpu-prof
      // with --cpu-prof-dir to profile the hub under the loads, or "" for Node's defaults).
      const nodeOptions: Record<string, string> = {
        MALLOC_ARENA_MAX: '2',
        MALLOC_TRIM_THRESHOLD_: '131072',
        NODE_OPTIONS: process.env.BENCH_HUB_NODE_OPTIONS ?? '--max-semi-space-size=4',
      };
      hubs.push({ threads, hub: await startTestHub({ demo: true, env: { MODELHUB_WORKER_THREADS: String(threads), ...nodeOptions }, timeoutMs: 300_000 }) });
    }
    console.log('starting the baseline server ...');
    const floor = await startBaseline({ MNIST_MODEL: mnistFile, DEEP_MODEL: deepFile, MLP128_MODEL: mlp128File, SILERO_MODEL: sileroFile, BIG_MODEL: bigFile });
    baseline = floor.child;

    const mnistBytes = fs.readFileSync(mnistFile);
    const publish = async (hub: TestHub, name: string, file: string, options: Record<string, unknown>) => {
      const metadata = onnxMetadata('bench', name);
      metadata.servable.options = options;
      const { task } = await publishAndWait(hub.url, metadata, [{ name: path.basename(file), bytes: fs.readFileSync(file) }]);
      if (task.status !== 'SUCCEEDED') throw new Error(`publishing bench/${name} failed: ${JSON.stringify(task.error)}`);
    };
    for (const { hub } of hubs) {
      await publish(hub, 'mnist-unbatched', mnistFile, { batching: { enabled: false } });
      await publish(hub, 'mnist-batched', mnistFile, { batching: { enabled: true, max_batch_size: 64 } });
      await publish(hub, 'big-input', bigFile, {});
      await publish(hub, 'mlp128', mlp128File, { batching: { enabled: false } });
      await publish(hub, 'deep-unbatched', deepFile, { batching: { enabled: false } });
      await publish(hub, 'deep-batched', deepFile, { batching: { enabled: true, max_batch_size: 64, ...(process.env.BENCH_DELAY_US ? { max_queue_delay_us: Number(process.env.BENCH_DELAY_US) } : {}) } });
    }
    const demoDoc = (await (await fetch(`${hubs[0]!.hub.url}/api/v1/servables/demo/mnist-mlp`)).json()) as { hub: { files: { sha256: string }[] } };
    const { createHash } = await import('node:crypto');
    const sameModel = demoDoc.hub.files[0]?.sha256 === createHash('sha256').update(mnistBytes).digest('hex');

    const bigValues = Float32Array.from({ length: BIG_FLOATS }, (_, i) => Math.round(Math.sin(i) * 1e4) / 1e4);
    const bigBytes = Buffer.from(bigValues.buffer);
    const v2Json = JSON.stringify({ inputs: [{ name: 'x', shape: [1, BIG_FLOATS], datatype: 'FP32', data: Array.from(bigValues) }] });
    const v2Header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, BIG_FLOATS], datatype: 'FP32', parameters: { binary_data_size: bigBytes.length } }] }));
    const v2Binary = Buffer.concat([v2Header, bigBytes]);

    const loads: Record<string, Load> = {};
    for (const c of [1, 16, 64]) {
      loads[`floor-mnist-c${c}`] = { url: `${floor.url}/mnist`, connections: c, body: mnistBodies(true) };
      loads[`floor-deep-c${c}`] = { url: `${floor.url}/deep`, connections: c, body: mnistBodies(true) };
      loads[`floor-fp-run-c${c}`] = { url: `${floor.url}/mlp128`, connections: c, body: fullPrecisionBodies(runRouteBody) };
      loads[`floor-fp-v2-c${c}`] = { url: `${floor.url}/v2/mlp128`, connections: c, body: fullPrecisionBodies(v2JsonBody) };
    }
    // The floor answers any other path with a quick 404: its cheapest request, for the probe.
    loads['floor-deep-c64-probe'] = { ...loads['floor-deep-c64']!, probe: `${floor.url}/live` };
    loads['floor-silero-c16'] = { url: `${floor.url}/silero`, connections: 16, body: sileroBodies() };
    loads['floor-big-c8'] = { url: `${floor.url}/big`, connections: 8, headers: { 'content-type': 'application/octet-stream' }, body: () => bigBytes };
    for (const { threads, hub } of hubs) {
      const api = (servable: string) => `${hub.url}/api/v1/servables/${servable}/run`;
      const w = suffix(threads);
      for (const c of [1, 16, 64]) {
        loads[`hub-mnist-unbatched-c${c}${w}`] = { url: api('bench/mnist-unbatched'), connections: c, body: mnistBodies(true) };
        loads[`hub-mnist-batched-c${c}${w}`] = { url: api('bench/mnist-batched'), connections: c, body: mnistBodies(true) };
        loads[`hub-deep-unbatched-c${c}${w}`] = { url: api('bench/deep-unbatched'), connections: c, body: mnistBodies(true) };
        loads[`hub-deep-batched-c${c}${w}`] = { url: api('bench/deep-batched'), connections: c, body: mnistBodies(true) };
        loads[`hub-fp-run-c${c}${w}`] = { url: api('bench/mlp128'), connections: c, body: fullPrecisionBodies(runRouteBody) };
        loads[`hub-fp-v2-c${c}${w}`] = { url: `${hub.url}/v2/models/bench.mlp128/infer`, connections: c, body: fullPrecisionBodies(v2JsonBody) };
      }
      loads[`hub-deep-batched-c64-probe${w}`] = { ...loads[`hub-deep-batched-c64${w}`]!, probe: `${hub.url}/v2/health/live` };
      loads[`hub-mnist-cached-c64${w}`] = { url: api('demo/mnist-mlp'), connections: 64, body: mnistBodies(false) };
      loads[`hub-silero-c16${w}`] = { url: api('demo/silero-vad'), connections: 16, body: sileroBodies() };
      loads[`hub-v2-json-c8${w}`] = { url: `${hub.url}/v2/models/bench.big-input/infer`, connections: 8, body: () => v2Json };
      loads[`hub-v2-binary-c8${w}`] = {
        url: `${hub.url}/v2/models/bench.big-input/infer`,
        connections: 8,
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(v2Header.length) },
        body: () => v2Binary,
      };
    }

    const baseScenarios = [
      ...[1, 16, 64].flatMap((c) => [
        { id: `fp-run-c${c}`, title: `run route, full-precision JSON, MLP 784-128-10, batch 1, ${c} conn.`, hub: `hub-fp-run-c${c}`, floor: `floor-fp-run-c${c}` },
        { id: `fp-v2-c${c}`, title: `v2 JSON route, full-precision JSON, MLP 784-128-10, batch 1, ${c} conn.`, hub: `hub-fp-v2-c${c}`, floor: `floor-fp-v2-c${c}` },
      ]),
      ...[1, 16, 64].flatMap((c) => [
        { id: `mlp-batch1-c${c}`, title: `MNIST MLP, batch 1, ${c} conn., batching off`, hub: `hub-mnist-unbatched-c${c}`, floor: `floor-mnist-c${c}` },
        { id: `mlp-batched-c${c}`, title: `MNIST MLP, batch 1, ${c} conn., dynamic batching`, hub: `hub-mnist-batched-c${c}`, floor: `floor-mnist-c${c}` },
      ]),
      { id: 'mlp-cache-c64', title: 'MNIST MLP, identical inputs (cache hits), 64 conn.', hub: 'hub-mnist-cached-c64', floor: 'floor-mnist-c64' },
      ...[1, 16, 64].flatMap((c) => [
        { id: `deep-batch1-c${c}`, title: `deep MLP 784-2048-2048-10, ${c} conn., batching off`, hub: `hub-deep-unbatched-c${c}`, floor: `floor-deep-c${c}` },
        { id: `deep-batched-c${c}`, title: `deep MLP 784-2048-2048-10, ${c} conn., dynamic batching`, hub: `hub-deep-batched-c${c}`, floor: `floor-deep-c${c}` },
      ]),
      {
        id: 'probe-deep-batched-c64',
        title: `cheap GET every ${PROBE_INTERVAL_MS} ms (hub /v2/health/live, floor 404) during deep MLP batched, 64 conn.`,
        hub: 'hub-deep-batched-c64-probe',
        floor: 'floor-deep-c64-probe',
      },
      { id: 'silero-c16', title: 'Silero VAD, 16 conn.', hub: 'hub-silero-c16', floor: 'floor-silero-c16' },
      { id: 'v2-json-1mb-c8', title: 'v2 JSON, 1 MiB FP32 input, 8 conn.', hub: 'hub-v2-json-c8', floor: 'floor-big-c8' },
      { id: 'v2-binary-1mb-c8', title: 'v2 binary, 1 MiB FP32 input, 8 conn.', hub: 'hub-v2-binary-c8', floor: 'floor-big-c8' },
    ];
    // One scenario per hub: with --workers 0,1,2 each is loaded on the three hubs, one after the other.
    const allScenarios = baseScenarios
      .flatMap((s) => hubs.map(({ threads }) => ({ ...s, base: s.id, id: `${s.id}${suffix(threads)}`, hub: `${s.hub}${suffix(threads)}`, threads })))
      .filter((s) => ONLY.test(s.id));
    // Floor and hub loads alternate (each floor load right before the hub loads it is compared with)
    // so that drift in the machine's load hits both alike.
    const order = [...new Set(allScenarios.flatMap((s) => [s.floor, s.hub]))];

    // Load each servable and warm the JIT on every path before anything is measured.
    console.log('warming up ...');
    for (const id of order) {
      const warm = await measure(loads[id]!, WARM_SECONDS);
      if (warm.non2xx > 0 || warm.errors > 0) throw new Error(`${id}: ${warm.non2xx} non-2xx replies and ${warm.errors} errors while warming up`);
    }

    // The batcher's sums before and after a load give that load's mean batch size.
    const batchSums = async (url: string): Promise<Record<string, [number, number]>> => {
      if (!/\/servables\/.+\/run$/.test(url)) return {};
      const text = await (await fetch(`${new URL(url).origin}/metrics`)).text();
      const sums: Record<string, [number, number]> = {};
      for (const match of text.matchAll(/^modelhub_batch_size_(sum|count)\{servable="([^"]+)",version="\d+"\} (\S+)$/gm)) {
        const entry = (sums[match[2]!] ??= [0, 0]);
        entry[match[1] === 'sum' ? 0 : 1] = Number(match[3]);
      }
      return sums;
    };
    const rounds: Record<string, Measured>[] = [];
    const batchTotals: Record<string, [number, number]> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      if (ROUNDS > 1) console.log(`round ${round} of ${ROUNDS}`);
      const results: Record<string, Measured> = {};
      rounds.push(results);
      for (const id of order) {
        const before = await batchSums(loads[id]!.url);
        results[id] = await measure(loads[id]!);
        const after = await batchSums(loads[id]!.url);
        const servable = /\/servables\/(.+)\/run$/.exec(loads[id]!.url)?.[1];
        const [sum, count] = servable && after[servable] ? [after[servable][0] - (before[servable]?.[0] ?? 0), after[servable][1] - (before[servable]?.[1] ?? 0)] : [0, 0];
        if (count > 0) {
          const total = (batchTotals[id] ??= [0, 0]);
          total[0] += sum;
          total[1] += count;
        }
        const r = results[id];
        const batch = count > 0 ? `  mean batch ${(sum / count).toFixed(1)}` : '';
        const probe = r.probe ? `  probe p50 ${r.probe.p50_ms.toFixed(2)} ms p99 ${r.probe.p99_ms.toFixed(2)} ms (${r.probe.count})` : '';
        const non2xx = r.non2xx && !r.probe ? `  non-2xx ${r.non2xx}` : '';
        console.log(`  ${id.padEnd(30)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms${batch}${probe}${non2xx}`);
      }
    }
    const meanBatchSizes = Object.fromEntries(Object.entries(batchTotals).map(([id, [sum, count]]) => [id, sum / count]));
    // Each load's figures are medians over the rounds; each ratio is the median of the rounds' ratios
    // (a floor load and the hub load it is compared with ran next to each other in every round).
    const medianOf = (id: string): Measured => {
      const all = rounds.map((r) => r[id]!);
      const probes = all.map((m) => m.probe).filter((p): p is Probe => p !== undefined);
      return {
        rps: median(all.map((m) => m.rps)),
        p50_ms: median(all.map((m) => m.p50_ms)),
        p99_ms: median(all.map((m) => m.p99_ms)),
        requests: all.reduce((n, m) => n + m.requests, 0),
        non2xx: all.reduce((n, m) => n + m.non2xx, 0),
        errors: all.reduce((n, m) => n + m.errors, 0),
        ...(probes.length
          ? { probe: { count: probes.reduce((n, p) => n + p.count, 0), p50_ms: median(probes.map((p) => p.p50_ms)), p99_ms: median(probes.map((p) => p.p99_ms)), max_ms: Math.max(...probes.map((p) => p.max_ms)) } }
          : {}),
      };
    };
    const results: Record<string, Measured> = Object.fromEntries(order.map((id) => [id, medianOf(id)]));
    const roundRatios = (hub: string, floor: string, field: 'rps' | 'p99_ms') =>
      rounds.map((r) => (r[floor]![field] > 0 ? r[hub]![field] / r[floor]![field] : NaN));

    // With several hubs, each is also compared with the in-process one (0 worker threads) in the same scenario.
    const inProcess = (s: (typeof allScenarios)[number]) => (AB && WORKERS.includes(0) ? results[`${s.hub.slice(0, -suffix(s.threads).length)}${suffix(0)}`] : undefined);
    const scenarios = allScenarios.map((s) => {
      const [hub, floor, base] = [results[s.hub]!, results[s.floor]!, inProcess(s)];
      return {
        ...s,
        hub: { load: s.hub, ...hub, ...(meanBatchSizes[s.hub] ? { mean_batch_size: meanBatchSizes[s.hub] } : {}) },
        floor: { load: s.floor, ...floor },
        throughput_ratio: median(roundRatios(s.hub, s.floor, 'rps')),
        throughput_ratio_rounds: roundRatios(s.hub, s.floor, 'rps'),
        // autocannon measures latency in whole milliseconds: a floor p99 under 1 ms gives no ratio.
        p99_ratio: floor.p99_ms > 0 ? median(roundRatios(s.hub, s.floor, 'p99_ms')) : null,
        ...(base ? { vs_in_process: { throughput_ratio: hub.rps / base.rps, p99_ratio: base.p99_ms > 0 ? hub.p99_ms / base.p99_ms : null } } : {}),
        ...(hub.probe && floor.probe
          ? {
              probe_ratio: { p50: hub.probe.p50_ms / floor.probe.p50_ms, p99: hub.probe.p99_ms / floor.probe.p99_ms },
              ...(base?.probe ? { probe_vs_in_process: { p50: hub.probe.p50_ms / base.probe.p50_ms, p99: hub.probe.p99_ms / base.probe.p99_ms } } : {}),
            }
          : {}),
      };
    });
    const byId = Object.fromEntries(scenarios.map((s) => [s.id, s]));
    // Targets are read on the first hub (the in-process one unless --workers says otherwise).
    const first = suffix(WORKERS[0]!);
    const ratio = (id: string) => byId[`${id}${first}`]?.throughput_ratio ?? NaN;
    const p99 = (id: string) => byId[`${id}${first}`]?.p99_ratio ?? NaN;
    const binaryOverJson = (results[`hub-v2-binary-c8${first}`]?.rps ?? NaN) / (results[`hub-v2-json-c8${first}`]?.rps ?? NaN);
    const targets = [
      // Issue 20: full-precision JSON on the 784-128-10 MLP, and the 1 MiB binary body.
      { target: 'run route, full-precision JSON, batch 1, 64 conn. >= 0.9 x floor', measured: ratio('fp-run-c64'), met: ratio('fp-run-c64') >= 0.9 },
      { target: 'run route, full-precision JSON, batch 1, 64 conn.: p99 <= 1.2 x floor', measured: p99('fp-run-c64'), met: p99('fp-run-c64') <= 1.2 },
      { target: 'v2 JSON route, full-precision JSON, batch 1, 64 conn. >= 0.85 x floor', measured: ratio('fp-v2-c64'), met: ratio('fp-v2-c64') >= 0.85 },
      { target: 'v2 binary 1 MiB >= 0.9 x floor', measured: ratio('v2-binary-1mb-c8'), met: ratio('v2-binary-1mb-c8') >= 0.9 },
      { target: 'dynamic batching at 64 conn. >= 3.5 x floor (deep MLP; issue 20)', measured: ratio('deep-batched-c64'), met: ratio('deep-batched-c64') >= 3.5 },
      { target: 'cache hits >= 2 x floor throughput (issue 20)', measured: ratio('mlp-cache-c64'), met: ratio('mlp-cache-c64') >= 2 },
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

    // A large publish under inference load, on a hub of its own (issue 19, item 22): the health
    // probe's p99 while the model is stored, inspected and warmed up.
    let publishUnderLoad: Awaited<ReturnType<typeof benchPublishUnderLoad>> | undefined;
    if (ONLY.test('publish-under-load')) {
      console.log('publish under load ...');
      publishUnderLoad = await benchPublishUnderLoad(work, (line) => console.log(line), {
        modelMb: argument('publish-mb', 2048),
        connections: 8,
        referenceSeconds: DURATION,
      });
      targets.push(publishUnderLoad.target);
    }

    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg_at_end: os.loadavg() },
      duration_s: DURATION,
      rounds: ROUNDS,
      quick: QUICK,
      hub_env: { MODELHUB_WORKER_THREADS: WORKERS.join(',') },
      demo_mnist_is_the_floor_model: sameModel,
      mean_batch_size: meanBatchSizes,
      scenarios,
      targets,
      containers,
      publish_under_load: publishUnderLoad,
      footprint,
    };
    fs.writeFileSync(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(report, null, 2)}\n`);

    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const abColumns = AB ? ['worker threads', 'x in-process'] : [];
    console.log(`\n${row(['scenario', ...abColumns, 'hub req/s', 'floor req/s', 'x floor', 'hub p99 ms', 'floor p99 ms', 'p99 x floor'])}`);
    console.log(row(Array(7 + abColumns.length).fill('---')));
    for (const s of scenarios) {
      const ab = AB ? [String(s.threads), s.vs_in_process?.throughput_ratio.toFixed(2) ?? 'n/a'] : [];
      console.log(row([s.title, ...ab, s.hub.rps.toFixed(0), s.floor.rps.toFixed(0), s.throughput_ratio.toFixed(2), s.hub.p99_ms.toFixed(2), s.floor.p99_ms.toFixed(2), s.p99_ratio?.toFixed(2) ?? 'n/a']));
    }
    for (const s of scenarios.filter((x) => x.hub.probe && x.floor.probe)) {
      const { probe } = s.hub;
      const vs = s.probe_vs_in_process ? `, x in-process p50 ${s.probe_vs_in_process.p50.toFixed(2)} p99 ${s.probe_vs_in_process.p99.toFixed(2)}` : '';
      console.log(`probe ${s.id}: p50 ${probe!.p50_ms.toFixed(2)} ms p99 ${probe!.p99_ms.toFixed(2)} ms (floor ${s.floor.probe!.p50_ms.toFixed(2)} / ${s.floor.probe!.p99_ms.toFixed(2)})${vs}`);
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
    for (const { hub } of hubs) await hub.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
