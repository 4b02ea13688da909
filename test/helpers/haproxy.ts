/**
 * Debian's HAProxy in front of hub replicas, its configuration generated on a free port: round
 * robin, each replica health checked on /v2/health/ready. Used by the HAProxy e2e and the replica bench.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** HAProxy in front of the replicas: round robin, health checked on /v2/health/ready. */
export class Haproxy {
  private child?: ChildProcess;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-haproxy-'));
  url = '';
  output = '';

  /** `check`: the health-check settings of each server (a bench under load checks less eagerly). */
  async start(port: number, backends: string[], check = 'check inter 500 fall 2 rise 1'): Promise<void> {
    const servers = backends.map((url, i) => `  server replica${i + 1} ${new URL(url).host} ${check}`).join('\n');
    const config = `global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  retries 3
  option redispatch
frontend hub
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /v2/health/ready
${servers}
`;
    fs.writeFileSync(path.join(this.dir, 'haproxy.cfg'), config);
    // -db: stay in the foreground; -W: master-worker, so that SIGTERM stops it cleanly.
    this.child = spawn('haproxy', ['-db', '-f', path.join(this.dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.url = `http://127.0.0.1:${port}`;
    for (const started = Date.now(); ; await sleep(200)) {
      const status = await fetch(`${this.url}/v2/health/live`).then((reply) => reply.status, () => 0);
      if (status === 200) break;
      if (Date.now() - started > 30_000) throw new Error(`haproxy does not answer on ${this.url}\n${this.output}`);
    }
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

