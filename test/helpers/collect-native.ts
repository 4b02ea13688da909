/**
 * Runs after every test file: collects garbage while the process is still healthy, so that native
 * wrappers (onnxruntime sessions and tensors the test let go of) are finalized now and not during
 * the worker's exit, where onnxruntime-node can abort the process ("terminate called after throwing
 * an instance of 'Napi::Error'") and take the test run with it.
 */
import { afterAll } from 'vitest';

afterAll(async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
});
