/**
 * Starts `modelhub endpoint start` as a user would (a child process of the real CLI), and waits
 * until the hub reports the endpoint online.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './test-hub.ts';

export interface StartedAgent {
  process: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

export function startAgentCli(hubUrl: string, token: string, home: string, args: string[], env: Record<string, string> = {}): StartedAgent {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hubUrl, '--token', token, 'endpoint', 'start', ...args], {
    cwd: ROOT,
    env: { ...process.env, MODELHUB_ENDPOINT_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function waitForEndpoint(hubUrl: string, endpoint: string, token: string, status: 'online' | 'offline', timeoutMs = 60_000, agent?: StartedAgent): Promise<Record<string, any>> {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`${hubUrl}/api/v1/endpoints/${endpoint}`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    const body = response?.ok ? ((await response.json()) as Record<string, any>) : undefined;
    if (body?.status === status) return body;
    if (Date.now() - started > timeoutMs) throw new Error(`${endpoint} not ${status} after ${timeoutMs} ms: ${JSON.stringify(body)}\n${agent?.output() ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A TCP port free now (for a hub that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
