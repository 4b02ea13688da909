/**
 * One TensorFlow.js engine per process, on the WebAssembly backend. `@tensorflow/tfjs-node` cannot
 * install on these machines (its install downloads libtensorflow), and the pure-JS `cpu` backend
 * is about six times slower than wasm, so every tfjs and Keras servable runs here.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

let ready: Promise<string> | undefined;

async function initialise(): Promise<string> {
  // In Node the wasm backend cannot fetch its binaries by URL; point it at the package's own
  // dist folder as a file path.
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  setWasmPaths(`${path.join(path.dirname(packageJson), 'dist')}${path.sep}`);
  if (await tf.setBackend('wasm')) return 'wasm';
  // Still correct, only slower: keep serving rather than fail every tfjs servable.
  await tf.setBackend('cpu');
  return 'cpu';
}

/** Set up the backend once; later calls wait for the same set-up. Resolves to the backend name. */
export function ensureTfjsBackend(): Promise<string> {
  ready ??= initialise().catch((error: unknown) => {
    ready = undefined;
    throw error;
  });
  return ready;
}

export { tf };
