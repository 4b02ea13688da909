/**
 * How the CLI shows things to a person: tables, the upload bar, build steps as they happen. With
 * `--json` none of this runs; commands print one JSON document instead.
 */
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';

/** The progress bar library, loaded when a bar is first shown (never by `import 'modelhub'`). */
const cliProgress = (): typeof cliProgressModule => createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
import type { TaskDocument } from '../schemas/api.ts';
import type { PublishEvent } from './operations/publish-servable.ts';

export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const STEP_MARK: Record<string, string> = { PENDING: '·', RUNNING: '…', SUCCEEDED: '✓', FAILED: '✗' };

/**
 * Renders a publish as it happens: a progress bar while uploading (on a terminal), then each
 * build step and log line. Returns the last event that carries a result.
 */
export async function renderPublish(
  events: AsyncIterable<PublishEvent>,
  output: Output,
  options: { quiet?: boolean; verbose?: boolean; stream?: NodeJS.WriteStream } = {},
): Promise<{ task?: TaskDocument; accepted?: Extract<PublishEvent, { kind: 'accepted' }> }> {
  const stream = options.stream ?? process.stderr;
  let bar: cliProgressModule.SingleBar | undefined;
  const result: { task?: TaskDocument; accepted?: Extract<PublishEvent, { kind: 'accepted' }> } = {};
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  try {
    for await (const event of events) {
      if (options.quiet) {
        if (event.kind === 'accepted') result.accepted = event;
        if (event.kind === 'done') result.task = event.task;
        continue;
      }
      switch (event.kind) {
        case 'upload':
          if (!bar && stream.isTTY) {
            bar = new (cliProgress().SingleBar)(
              {
                stream,
                format: 'uploading [{bar}] {percentage}% {done} / {size}',
                hideCursor: true,
                clearOnComplete: false,
              },
              cliProgress().Presets.shades_classic,
            );
            bar.start(event.total, 0, { done: formatBytes(0), size: formatBytes(event.total) });
          }
          bar?.update(event.loaded, { done: formatBytes(event.loaded) });
          break;
        case 'accepted':
          stopBar();
          result.accepted = event;
          output.out(`accepted ${event.servable}@${event.version} (task ${event.task_id})`);
          break;
        case 'step':
          // Steps not started yet are noise; each is shown when it starts and when it ends.
          if (event.status === 'PENDING') break;
          output.out(`  ${STEP_MARK[event.status] ?? event.status} ${event.name}${event.message ? `: ${event.message}` : ''}`);
          break;
        case 'log':
          if (options.verbose) output.out(`    ${event.line}`);
          break;
        case 'done':
          result.task = event.task;
          break;
      }
    }
  } finally {
    stopBar();
  }
  return result;
}

export function describeTask(task: TaskDocument): string {
  const lines = [`task ${task.task_id} (${task.kind}): ${task.status}`];
  if (task.servable) lines.push(`servable: ${task.servable}${task.version ? `@${task.version}` : ''}`);
  for (const step of task.steps ?? []) {
    lines.push(`  ${STEP_MARK[step.status] ?? step.status} ${step.name}${step.message ? `: ${step.message}` : ''}`);
  }
  if (task.error) lines.push(`error ${task.error.code}: ${task.error.message}`);
  if (task.result !== undefined && task.kind === 'run') lines.push(JSON.stringify(task.result, null, 2));
  return lines.join('\n');
}
