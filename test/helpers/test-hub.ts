/**
 * Starts the real hub as a child process on a free port with its own data folder, the way a user
 * runs it, so that end-to-end tests cross the wire and can kill it (SIGKILL) and start it again on
 * the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface TestHub {
  url: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the hub printed, for diagnosing a failed test. */
  output: () => string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

export interface TestHubOptions {
  env?: Record<string, string>;
  /** Reuse a data folder (to test restarts); a fresh temporary one by default. */
  dataDir?: string;
  /** Publish the demo servables (takes a few seconds); off by default in tests. */
  demo?: boolean;
  timeoutMs?: number;
}

export async function startTestHub(envOrOptions: Record<string, string> | TestHubOptions = {}): Promise<TestHub> {
  const options: TestHubOptions =
    'env' in envOrOptions || 'dataDir' in envOrOptions || 'demo' in envOrOptions || 'timeoutMs' in envOrOptions
      ? (envOrOptions as TestHubOptions)
      : { env: envOrOptions as Record<string, string> };
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-test-'));
  // node --import tsx, not the tsx CLI: the CLI runs a second process that a SIGKILL would orphan.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'hub-server/server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      MODELHUB_PORT: '0',
      MODELHUB_HOST: '127.0.0.1',
      MODELHUB_DATA: dataDir,
      MODELHUB_DEMO: options.demo ? 'true' : 'false',
      MODELHUB_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start in time:\n${output}`)), options.timeoutMs ?? 120_000);
    const onData = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    // 'close', not 'exit': it comes once stdout and stderr are drained, so the message holds the
    // hub's last words (why it stopped), which may still be in flight at 'exit'.
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the hub exited with ${code} before listening:\n${output}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    dataDir,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
