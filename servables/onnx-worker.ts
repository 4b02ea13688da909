/**
 * The inside of an ONNX worker thread (servables/onnx-worker-runtime.ts starts it through
 * onnx-worker-boot.mjs): it opens, runs and releases onnxruntime sessions when the main thread asks,
 * so that `session.run`, synchronous in onnxruntime-node, blocks this thread and not the hub's
 * event loop. Inputs arrive already checked; it imports nothing of the hub but the message types.
 */
import { parentPort } from 'node:worker_threads';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';

type Ort = typeof import('onnxruntime-node');
type OrtData = OrtTensor['data'];

/** A tensor on the wire: its data travels as a transferred buffer (or a cloned string array). */
export interface WireTensor {
  name: string;
  type: OrtTensor['type'];
  dims: number[];
  data: OrtData;
}

export type WorkerRequest =
  | { op: 'load'; id: number; session: number; path: string; options: InferenceSession.SessionOptions }
  | { op: 'run'; id: number; session: number; feeds: WireTensor[] }
  | { op: 'release'; id: number; session: number };

export interface SessionFacts {
  inputNames: string[];
  outputNames: string[];
  inputMetadata: InferenceSession.ValueMetadata[];
}

export type WorkerReply =
  | { id: number; ok: true; facts?: SessionFacts; outputs?: WireTensor[] }
  | { id: number; ok: false; message: string; unavailable?: boolean };

const port = parentPort;
if (!port) throw new Error('onnx-worker.ts runs as a worker thread');

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// Loaded once per thread; a binding that cannot load is reported on each request, not a crash loop.
const ort: Ort | Error = await import('onnxruntime-node').then(
  (mod) => ((mod as { default?: Ort }).default ?? mod) as Ort,
  (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
);

const sessions = new Map<number, InferenceSession>();

/** The buffers to transfer: a view over part of a buffer is copied first, so only its bytes travel. */
function transferable(tensor: WireTensor, transfer: ArrayBuffer[]): WireTensor {
  const data = tensor.data;
  if (Array.isArray(data)) return tensor;
  const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
  transfer.push(owned.buffer as ArrayBuffer);
  return { ...tensor, data: owned };
}

async function handle(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  const { id } = request;
  if (ort instanceof Error) {
    return { reply: { id, ok: false, message: `onnxruntime-node cannot be loaded: ${ort.message}`, unavailable: true }, transfer: [] };
  }
  if (request.op === 'load') {
    const session = await ort.InferenceSession.create(request.path, request.options);
    sessions.set(request.session, session);
    const facts = { inputNames: [...session.inputNames], outputNames: [...session.outputNames], inputMetadata: [...session.inputMetadata] };
    return { reply: { id, ok: true, facts }, transfer: [] };
  }
  const session = sessions.get(request.session);
  if (request.op === 'release') {
    sessions.delete(request.session);
    await session?.release();
    return { reply: { id, ok: true }, transfer: [] };
  }
  if (!session) return { reply: { id, ok: false, message: `no session ${request.session} in this worker` }, transfer: [] };
  const feeds: Record<string, OrtTensor> = {};
  for (const feed of request.feeds) feeds[feed.name] = new ort.Tensor(feed.type, feed.data as never, feed.dims);
  const results = await session.run(feeds);
  const transfer: ArrayBuffer[] = [];
  const outputs: WireTensor[] = [];
  for (const name of session.outputNames) {
    const value = results[name];
    if (value) outputs.push(transferable({ name, type: value.type, dims: value.dims.map(Number), data: value.data }, transfer));
  }
  return { reply: { id, ok: true, outputs }, transfer };
}

port.on('message', (request: WorkerRequest) => {
  handle(request).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (error: unknown) => port.postMessage({ id: request.id, ok: false, message: messageOf(error) } satisfies WorkerReply),
  );
});
