/**
 * What every CLI command group shares: the global options, printing (human text, or JSON with
 * `--json`) and one way to report errors, so that `token`, `flow` and the operator commands behave
 * exactly like the rest.
 */
import type { Command } from 'commander';
import type { Output } from './cli-output.ts';
import { MetadataValidationError } from './errors.ts';

export interface GlobalOptions {
  json?: boolean;
  url?: string;
  token?: string;
}

/** `error <CODE>: <message>` on stderr (or the error document with --json), exit status 1. */
export function reportError(error: unknown, json: boolean, output: Output): void {
  const e = error as { code?: unknown; message?: string; details?: unknown; status?: number };
  const code = typeof e?.code === 'string' && e.code.startsWith('MODELHUB_') ? e.code : 'MODELHUB_CLIENT_ERROR';
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof MetadataValidationError ? error.problems : e?.details;
  if (json) {
    output.out(JSON.stringify({ error: { code, message, ...(details === undefined ? {} : { details }) } }, null, 2));
  } else {
    output.err(`error ${code}: ${message}`);
  }
  process.exitCode = 1;
}

export function commandKit(output: Output) {
  const globals = <T extends object = object>(command: Command) => command.optsWithGlobals<GlobalOptions & T>();
  const print = (command: Command, value: unknown, human: () => string) =>
    output.out(globals(command).json ? JSON.stringify(value, null, 2) : human());
  /** Every action reports its errors the same way. */
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A) => {
      const command = args[args.length - 1] as Command;
      try {
        await fn(...args);
      } catch (error) {
        reportError(error, Boolean(globals(command).json), output);
      }
    };
  return { globals, print, action };
}
