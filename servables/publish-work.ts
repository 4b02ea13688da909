/**
 * The CPU-heavy steps of a publish, run inside a worker thread (see publish-work-pool.ts) so that
 * the hub's event loop keeps answering health checks, cache hits and inference meanwhile: decoding
 * an ONNX file's protobuf (seconds for a few hundred MB), and opening an onnxruntime session on it,
 * which onnxruntime-node does synchronously on the calling thread.
 *
 * Each function answers a plain outcome rather than throwing: an error thrown across threads loses
 * its class and its catalog code; the pool turns a refusal back into the same HubError.
 */
import { readFile } from 'node:fs/promises';
import { isHubError } from '../schemas/errors.ts';
import { inspectOnnxBytes, type OnnxFacts } from './onnx-inspect.ts';

export type WorkOutcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string; details?: unknown };

function refusal(error: unknown, fallbackCode: string, prefix = ''): WorkOutcome<never> {
  if (isHubError(error)) return { ok: false, code: error.code, message: error.message, details: error.details };
  return { ok: false, code: fallbackCode, message: `${prefix}${error instanceof Error ? error.message : String(error)}` };
}

/** What the file says about itself (inputs, outputs, opset, producer); INVALID_MODEL when it is not ONNX. */
export async function inspectOnnxFile(path: string): Promise<WorkOutcome<OnnxFacts>> {
  try {
    return { ok: true, value: inspectOnnxBytes(await readFile(path)) };
  } catch (error) {
    return refusal(error, 'MODELHUB_INTERNAL');
  }
}

/** Whether onnxruntime accepts the file's operators and initializers: a session opened and released. */
export async function checkOnnxSession(path: string, label: string, options: object): Promise<WorkOutcome<null>> {
  let ort: typeof import('onnxruntime-node');
  try {
    const loaded = (await import('onnxruntime-node')) as typeof import('onnxruntime-node') & { default?: typeof import('onnxruntime-node') };
    ort = loaded.default ?? loaded;
  } catch (error) {
    return refusal(error, 'MODELHUB_RUNTIME_UNAVAILABLE', 'onnxruntime-node cannot be loaded: ');
  }
  try {
    const session = await ort.InferenceSession.create(path, options);
    await session.release();
    return { ok: true, value: null };
  } catch (error) {
    return refusal(error, 'MODELHUB_INVALID_MODEL', `onnxruntime cannot load ${label}: `);
  }
}
