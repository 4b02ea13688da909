/**
 * One task of a batch chunk's Slurm job array: `node --import tsx slurm-array-task.ts <slurm
 * folder> <chunk id> <index> <concurrency>`, started by the array's job script. It runs slice
 * <index> of the chunk's records with the hub's runtimes (up to <concurrency> at once, so the
 * dynamic batcher batches them), writes their outcomes whole to `out-<index>.json`, and ends.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { FsBlobStore } from '../adapters/fs-blob-store.ts';
import { LocalExecutor } from './local-executor.ts';
import { SlurmQueue } from './slurm-queue.ts';
import { runRecords, type TaskMessage } from './task-executor.ts';

const [root, chunkId, indexArg, concurrencyArg] = process.argv.slice(2);
if (!root || !chunkId || indexArg === undefined) throw new Error('usage: slurm-array-task.ts <folder> <chunk id> <index> <concurrency>');
const index = Number(indexArg);
const dir = path.join(root, 'arrays', chunkId);
const { task, size } = JSON.parse(await fs.readFile(path.join(dir, 'task.json'), 'utf8')) as { task: TaskMessage; size: number };
const records = (task.inputs as unknown[]).slice(index * size, (index + 1) * size);
// The endpoint's verified file cache; each array task lays out the servable in its own folder.
const job = `${process.env.SLURM_ARRAY_JOB_ID ?? `local-${process.pid}`}_${index}`;
const executor = new LocalExecutor({ stateDir: path.join(root, 'work', job), blobs: new FsBlobStore(path.join(root, '..', 'blobs')) });
const outcomes = await runRecords((t) => executor.run(t), task, records, Math.max(1, Number(concurrencyArg ?? 8)));
await SlurmQueue.writeAtomic(path.join(dir, `out-${index}.json`), outcomes);
await executor.close();
await fs.rm(path.join(root, 'work', job), { recursive: true, force: true });
process.exit(0);
