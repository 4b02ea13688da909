/**
 * `modelhub batch NAME DATA [--on owner/name] [-o results.ndjson]`: uploads the data set, shows
 * the batch's progress (a bar on a terminal, a line per change otherwise) and writes the results.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { commandKit } from './cli-commands.ts';
import { processOutput, type Output } from './cli-output.ts';
import { batchResults, followBatch, submitBatch, type BatchProgress } from './operations/batch.ts';
import { resolveConnection } from './saved-login.ts';

export function registerBatchCommand(program: Command, output: Output = processOutput): void {
  const { globals, print, action } = commandKit(output);
  program
    .command('batch')
    .description('run a servable over every record of a data set (NDJSON, CSV or NPY)')
    .argument('<name>', 'owner/name or owner/name@version')
    .argument('<data>', 'the data set file (.ndjson/.jsonl: one inputs per line; .csv and .npy: one row per record), or s3://bucket/prefix/ (NDJSON objects)')
    .option('--on <endpoint>', 'run on this compute endpoint (owner/name)')
    .option('-o, --output <file>', 'write the results (NDJSON) here (default: standard output)')
    .option('--parameters <json>', 'run parameters, as a JSON object')
    .option('--method <method>', 'method other than run')
    .option('--chunk-size <n>', 'records per chunk', Number)
    .action(
      action(async (name: string, data: string, options: { on?: string; output?: string; parameters?: string; method?: string; chunkSize?: number }, command: Command) => {
        const { url, token, json } = globals(command);
        const connection = resolveConnection({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
        const params = { hubUrl: connection.url, ...(connection.token ? { accessToken: connection.token } : {}) };
        const accepted = await submitBatch({
          ...params,
          name,
          data,
          ...(options.on ? { endpoint: options.on } : {}),
          ...(options.method ? { method: options.method } : {}),
          ...(options.parameters ? { parameters: JSON.parse(options.parameters) as Record<string, unknown> } : {}),
          ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
        });
        const stream = process.stderr;
        let bar: cliProgress.SingleBar | undefined;
        const progressOf = (task: { progress?: unknown }) => task.progress as BatchProgress | undefined;
        let task;
        for await (const update of followBatch({ ...params, taskId: accepted.task_id })) {
          task = update;
          const progress = progressOf(update);
          if (!progress || json) continue;
          const processed = progress.done + progress.failed;
          const values = { failed: progress.failed, rate: progress.records_per_s, eta: progress.eta_s ?? '?' };
          if (stream.isTTY) {
            if (!bar) {
              bar = new cliProgress.SingleBar({ stream, format: 'batch [{bar}] {value}/{total} records, {failed} failed, {rate} rec/s, ETA {eta} s', hideCursor: true }, cliProgress.Presets.shades_classic);
              bar.start(progress.total, 0, values);
            }
            bar.update(processed, values);
          } else {
            output.err(`batch ${accepted.task_id}: ${processed}/${progress.total} records, ${progress.failed} failed, ${progress.records_per_s} rec/s, ETA ${progress.eta_s ?? '?'} s`);
          }
        }
        bar?.stop();
        if (!task || task.status !== 'SUCCEEDED') {
          const error = task?.error;
          throw Object.assign(new Error(error?.message ?? `batch ${accepted.task_id} did not succeed`), { code: error?.code });
        }
        const results = Readable.fromWeb((await batchResults({ ...params, taskId: accepted.task_id })) as WebReadableStream<Uint8Array>);
        if (options.output) await pipeline(results, createWriteStream(options.output));
        else await pipeline(results, process.stdout, { end: false });
        const summary = task.result as { records: number; succeeded: number; failed: number };
        if (options.output || json) print(command, { task_id: accepted.task_id, ...summary, ...(options.output ? { output: options.output } : {}) }, () => `batch ${accepted.task_id}: ${summary.succeeded} of ${summary.records} records succeeded, ${summary.failed} failed${options.output ? `; results in ${options.output}` : ''}`);
      }),
    );
}
