/**
 * Runs the CPU-heavy steps of a publish (servables/publish-work.ts) in worker threads, so that a
 * large upload being inspected never stalls the event loop: health checks, cache hits and inference
 * keep being answered while a 2 GB model is decoded. One small pool per process, made on first use;
 * its threads end after a while idle, so an idle hub (or a test) holds none.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Piscina } from 'piscina';
import { ERROR_CATALOG, HubError, type ErrorName } from '../schemas/errors.ts';
import type { OnnxFacts } from './onnx-inspect.ts';
import type { WorkOutcome } from './publish-work.ts';

const BOOT = new URL('./publish-work-boot.mjs', import.meta.url);

let pool: Piscina | undefined;

function publishWorkPool(): Piscina {
  // piscina loads with the first publish that needs a thread, not with the hub.
  pool ??= new (createRequire(import.meta.url)('piscina') as typeof import('piscina')).Piscina({
    filename: BOOT.href,
    // Publishes are rare next to requests: a couple of threads, never all the cores.
    minThreads: 0,
    maxThreads: Math.max(1, Math.min(2, availableParallelism() - 1)),
    idleTimeout: 30_000,
    // Node 20 would not apply an inherited `--import tsx` to the entry anyway (see the boot file).
    execArgv: [],
  });
  return pool;
}

/** The HubError a worker reported, rebuilt with its catalog code and message. */
function rebuild(outcome: Extract<WorkOutcome<unknown>, { ok: false }>): HubError {
  const name = outcome.code.replace(/^MODELHUB_/, '') as ErrorName;
  if (!(name in ERROR_CATALOG)) return new HubError('INTERNAL', outcome.message);
  // The message arrives with its template applied: take the detail back out of it.
  const prefix = ERROR_CATALOG[name].message.split('%s')[0]!;
  const detail = outcome.message.startsWith(prefix) ? outcome.message.slice(prefix.length) : outcome.message;
  return new HubError(name, detail, { details: outcome.details });
}

async function run<T>(name: string, task: object): Promise<T> {
  const outcome = (await publishWorkPool().run(task, { name })) as WorkOutcome<T>;
  if (!outcome.ok) throw rebuild(outcome);
  return outcome.value;
}

/** `inspectOnnxBytes` of the file, decoded in a worker thread. */
export function inspectOnnxFileOffThread(path: string): Promise<OnnxFacts> {
  return run('inspectOnnxFile', { path });
}

/** Opens and releases an onnxruntime session on the file in a worker thread (INVALID_MODEL when it cannot). */
export function checkOnnxSessionOffThread(path: string, label: string, options: object): Promise<void> {
  return run<null>('checkOnnxSession', { path, label, options }).then(() => undefined);
}

/** Stops the threads (they also end by themselves when idle). */
export async function closePublishWork(): Promise<void> {
  const closing = pool;
  pool = undefined;
  await closing?.destroy();
}
