// The entry of the publish-work threads (servables/publish-work-pool.ts). Node 20 applies neither the
// parent's `--import tsx` nor its loader hooks to a worker's entry, so this plain module loads the
// TypeScript functions through tsx's scoped loader and re-exports them for piscina to call by name.
import { tsImport } from 'tsx/esm/api';

const work = await tsImport('./publish-work.ts', import.meta.url);

export const inspectOnnxFile = ({ path }) => work.inspectOnnxFile(path);
export const checkOnnxSession = ({ path, label, options }) => work.checkOnnxSession(path, label, options);
