// The entry of each ONNX worker thread. Node 20 applies neither the parent's `--import tsx` nor its
// loader hooks to a worker's entry, so this plain module loads the TypeScript worker through tsx's
// scoped loader; it works the same under `node --import tsx`, the tsx CLI and vitest.
import { tsImport } from 'tsx/esm/api';

await tsImport('./onnx-worker.ts', import.meta.url);
