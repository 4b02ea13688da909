/**
 * A real S3 server for tests: Ceph's radosgw, started by `scripts/radosgw/start.sh` in a temporary
 * folder on free ports, or one that is already running (`.ci/run` may start it once for the whole
 * run) given by
 *   MODELHUB_TEST_S3_ENDPOINT, MODELHUB_TEST_S3_ACCESS_KEY, MODELHUB_TEST_S3_SECRET_KEY
 * and, so that fault tests can stop and restart its gateway, MODELHUB_TEST_RADOSGW_DIR.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/radosgw');

export interface Radosgw {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The cluster's folder, when this process may stop and restart its gateway. */
  dir?: string;
  /** Kill the gateway only (monitor and OSD keep the data): S3 stops answering at once. */
  stopGateway(): Promise<void>;
  /** Start the gateway again on the same cluster; resolves once S3 answers. */
  startGateway(): Promise<void>;
  /** Stop everything this process started (nothing, for a gateway it was given). */
  stop(): Promise<void>;
}

export type RadosgwResult = { ok: true; gateway: Radosgw } | { ok: false; reason: string };

function parseCredentials(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^(MODELHUB_TEST_S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function controls(dir: string | undefined, owned: boolean, credentials: Record<string, string>): Radosgw {
  const requireDir = (what: string): string => {
    if (!dir) throw new Error(`cannot ${what}: this gateway was given by MODELHUB_TEST_S3_ENDPOINT without MODELHUB_TEST_RADOSGW_DIR`);
    return dir;
  };
  return {
    endpoint: credentials.MODELHUB_TEST_S3_ENDPOINT!,
    accessKey: credentials.MODELHUB_TEST_S3_ACCESS_KEY!,
    secretKey: credentials.MODELHUB_TEST_S3_SECRET_KEY!,
    dir,
    async stopGateway() {
      const pidFile = path.join(requireDir('stop the gateway'), 'run', 'client.rgw.a.pid');
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      process.kill(pid, 'SIGKILL');
      // Wait until the process is gone (or a zombie nobody reaps), so that start.sh sees it dead.
      for (let i = 0; i < 100; i++) {
        if (!running(pid)) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`radosgw ${pid} did not exit`);
    },
    async startGateway() {
      await run('bash', [path.join(SCRIPTS, 'start.sh'), requireDir('start the gateway')], { timeout: 120_000 });
    },
    async stop() {
      if (owned && dir) await run('bash', [path.join(SCRIPTS, 'stop.sh'), dir], { timeout: 60_000 });
    },
  };
}

/** Reuse the gateway the environment names, or start one; never throws, says why it could not. */
export async function startRadosgw(): Promise<RadosgwResult> {
  const given = process.env.MODELHUB_TEST_S3_ENDPOINT;
  if (given) {
    const credentials = {
      MODELHUB_TEST_S3_ENDPOINT: given,
      MODELHUB_TEST_S3_ACCESS_KEY: process.env.MODELHUB_TEST_S3_ACCESS_KEY ?? '',
      MODELHUB_TEST_S3_SECRET_KEY: process.env.MODELHUB_TEST_S3_SECRET_KEY ?? '',
    };
    if (!credentials.MODELHUB_TEST_S3_ACCESS_KEY || !credentials.MODELHUB_TEST_S3_SECRET_KEY) {
      return { ok: false, reason: 'MODELHUB_TEST_S3_ENDPOINT is set but MODELHUB_TEST_S3_ACCESS_KEY or MODELHUB_TEST_S3_SECRET_KEY is not' };
    }
    return { ok: true, gateway: controls(process.env.MODELHUB_TEST_RADOSGW_DIR || undefined, false, credentials) };
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-radosgw-'));
  try {
    const [rgwPort, monPort] = [await freePort(), await freePort()];
    const { stdout } = await run('bash', [path.join(SCRIPTS, 'start.sh'), dir], {
      timeout: 180_000,
      env: { ...process.env, RGW_PORT: String(rgwPort), MON_PORT: String(monPort), MEMSTORE_MB: '1024' },
    });
    const credentials = parseCredentials(stdout);
    if (!credentials.MODELHUB_TEST_S3_ENDPOINT) {
      throw new Error(`start.sh printed no credentials: ${stdout.slice(0, 500)}`);
    }
    return { ok: true, gateway: controls(dir, true, credentials) };
  } catch (error) {
    const failure = error as { stderr?: string; message?: string };
    await run('bash', [path.join(SCRIPTS, 'stop.sh'), dir]).catch(() => undefined);
    const detail = (failure.stderr || failure.message || String(error)).trim().split('\n').slice(-20).join('\n');
    return { ok: false, reason: `scripts/radosgw/start.sh failed (install the packages with scripts/radosgw/install.sh as root):\n${detail}` };
  }
}
