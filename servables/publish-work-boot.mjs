// The entry of the publish-work threads (servables/publish-work-pool.ts). Compiled (dist/) it loads
// the JavaScript beside it. From the sources, Node 20 applies neither the parent's `--import tsx`
// nor its loader hooks to a worker's entry, so it loads the TypeScript functions through tsx's
// scoped loader. Either way it re-exports them for piscina to call by name.
import { existsSync } from 'node:fs';

const compiled = new URL('./publish-work.js', import.meta.url);
const work = existsSync(compiled)
  ? await import(compiled.href)
  : await (await import('tsx/esm/api')).tsImport('./publish-work.ts', import.meta.url);

export const inspectOnnxFile = ({ path }) => work.inspectOnnxFile(path);
export const checkOnnxSession = ({ path, label, options }) => work.checkOnnxSession(path, label, options);
