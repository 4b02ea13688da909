// The entry of each ONNX worker thread. Compiled (dist/, `npm start`) it loads the JavaScript
// beside it. From the sources, Node 20 applies neither the parent's `--import tsx` nor its loader
// hooks to a worker's entry, so it loads the TypeScript worker through tsx's scoped loader; that
// works the same under `node --import tsx`, the tsx CLI and vitest.
import { existsSync } from 'node:fs';

const compiled = new URL('./onnx-worker.js', import.meta.url);
if (existsSync(compiled)) await import(compiled.href);
else await (await import('tsx/esm/api')).tsImport('./onnx-worker.ts', import.meta.url);
