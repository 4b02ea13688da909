/**
 * The floor: the least a Node server can do to serve these models over HTTP — bare `node:http`,
 * one onnxruntime-node session per model with the hub's session options, JSON in and out, no
 * validation, no routing library, no metrics. `npm run bench` reports the hub's figures against it.
 *
 *   POST /mnist   {"inputs": [[784 floats]]}                     → {"output": [[10 floats]]}
 *   POST /deep    the same, on the 784→2048→2048→10 MLP (bench/deep-mlp.ts)
 *   POST /mlp128  the same, on the 784→128→10 MLP of the full-precision scenarios (issue 20)
 *   POST /v2/mlp128  the Open Inference Protocol's JSON body, {"inputs": [{"name", "shape",
 *                 "datatype": "FP32", "data": [flat floats]}]} → {"model_name", "outputs": [{"name",
 *                 "datatype", "shape", "data"}]}: the same work per request as the hub's v2 JSON route
 *                 (parse, a Float32Array, run, reply JSON), nothing else
 *   POST /silero  {"inputs": {"input", "state", "sr"}}           → {"output": {"output", "stateN"}}
 *   POST /big     raw little-endian float32 bytes [1, N]           → {"output": [[...]]}
 *
 * Model paths come from MNIST_MODEL, DEEP_MODEL, MLP128_MODEL, SILERO_MODEL, BIG_MODEL; it prints `listening on <url>`.
 */
import http from 'node:http';
import ort from 'onnxruntime-node';
import { SESSION_OPTIONS } from '../servables/onnx-runtime.ts';

const open = (file: string | undefined) => (file ? ort.InferenceSession.create(file, SESSION_OPTIONS) : undefined);
const [mnist, deep, mlp128, silero, big] = await Promise.all([
  open(process.env.MNIST_MODEL),
  open(process.env.DEEP_MODEL),
  open(process.env.MLP128_MODEL),
  open(process.env.SILERO_MODEL),
  open(process.env.BIG_MODEL),
]);
const dense: Record<string, ort.InferenceSession | undefined> = { '/mnist': mnist, '/deep': deep, '/mlp128': mlp128 };

const nested = (t: ort.Tensor) => {
  const rows = Number(t.dims[0]);
  const width = t.data.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from((t.data as Float32Array).subarray(r * width, (r + 1) * width)));
};
const f32 = (rows: number[][]) => new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0]!.length]);

async function handle(url: string, body: Buffer): Promise<unknown> {
  const session = dense[url];
  if (session) {
    const rows = (JSON.parse(body.toString()) as { inputs: number[][] }).inputs;
    const out = await session.run({ [session.inputNames[0]!]: f32(rows) });
    return { output: nested(out[session.outputNames[0]!]!) };
  }
  if (url === '/v2/mlp128' && mlp128) {
    const { inputs } = JSON.parse(body.toString()) as { inputs: { name: string; shape: number[]; data: number[] }[] };
    const input = inputs[0]!;
    const out = await mlp128.run({ [input.name]: new ort.Tensor('float32', Float32Array.from(input.data), input.shape) });
    const name = mlp128.outputNames[0]!;
    const tensor = out[name]!;
    return { model_name: 'mlp128', outputs: [{ name, datatype: 'FP32', shape: tensor.dims, data: Array.from(tensor.data as Float32Array) }] };
  }
  if (url === '/silero' && silero) {
    const { input, state, sr } = (JSON.parse(body.toString()) as { inputs: { input: number[][]; state: number[][][]; sr: number } }).inputs;
    const out = await silero.run({
      input: f32(input),
      state: new ort.Tensor('float32', Float32Array.from(state.flat(2)), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(sr)), [1]),
    });
    return { output: { output: nested(out.output!), stateN: Array.from(out.stateN!.data as Float32Array) } };
  }
  if (url === '/big' && big) {
    const data = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    const out = await big.run({ [big.inputNames[0]!]: new ort.Tensor('float32', data, [1, data.length]) });
    return { output: nested(out[big.outputNames[0]!]!) };
  }
  return undefined;
}

const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    handle(request.url ?? '', Buffer.concat(chunks)).then(
      (result) => {
        response.writeHead(result === undefined ? 404 : 200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(result ?? { error: 'not found' }));
      },
      (error: Error) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: error.message }));
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address() as { port: number };
  console.log(`listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
