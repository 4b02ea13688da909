/**
 * The deploy/ files stay runnable: the replicas compose file parses, names the services
 * docs/replicas.md describes, and gives the hub a configuration loadConfig accepts; HAProxy's own
 * checker accepts deploy/haproxy.cfg and it balances over the port the hub listens on; Debian's
 * docker-compose 1.29 validates both compose files against the Compose schema it ships. Nothing
 * here starts the stack: its images (postgres, minio, haproxy, node) cannot be pulled on these
 * machines. haproxy and docker-compose come from scripts/install-test-deps.sh; a developer machine
 * without them skips those two checks, CI fails.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../hub-server/config.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const run = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  deploy?: { replicas?: number | string };
}
interface ComposeFile {
  name: string;
  services: Record<string, ComposeService>;
}

const load = async (file: string) => parse(await readFile(path.join(DEPLOY, file), 'utf8')) as ComposeFile;

/** Compose's `${VAR:-default}` with nothing set: the default. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');

function tool(binary: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) if (existsSync(path.join(dir, binary))) return path.join(dir, binary);
  if (process.env.CI) throw new Error(`${binary} is required under CI (scripts/install-test-deps.sh installs it)`);
  return undefined;
}

describe('deploy/replicas.compose.yaml', () => {
  it('has PostgreSQL, MinIO, the hub and HAProxy, wired as docs/replicas.md says', async () => {
    const compose = await load('replicas.compose.yaml');
    expect(Object.keys(compose.services).sort()).toEqual(['haproxy', 'hub', 'minio', 'postgres']);
    const hub = compose.services.hub!;
    expect(hub.deploy?.replicas).toBe('${MODELHUB_REPLICAS:-3}');
    expect(Object.keys(hub.depends_on ?? {}).sort()).toEqual(['minio', 'postgres']);
    expect(existsSync(path.resolve(DEPLOY, hub.build!.context, hub.build!.dockerfile))).toBe(true);
    // The balancer's configuration file is the one in deploy/, mounted where the haproxy image reads it.
    const mount = compose.services.haproxy!.volumes!.find((volume) => volume.includes('haproxy.cfg'))!;
    expect(mount).toBe('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    expect(existsSync(path.join(DEPLOY, 'haproxy.cfg'))).toBe(true);
    // Only the balancer (and MinIO's console) is published, and only on 127.0.0.1.
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) expect(`${name} ${port}`).toMatch(/ 127\.0\.0\.1:/);
    }
    expect(compose.services.hub!.ports).toBeUndefined();
  });

  it('gives every replica a configuration the hub accepts: PostgreSQL for state and search, MinIO for blobs', async () => {
    const compose = await load('replicas.compose.yaml');
    const env = Object.fromEntries(Object.entries(compose.services.hub!.environment!).map(([key, value]) => [key, withDefaults(String(value))]));
    const config = loadConfig(env);
    expect(config).toMatchObject({ search: 'postgres', blobs: 's3', auth: 'tokens', host: '0.0.0.0', port: 8700, publicUrl: 'http://127.0.0.1:8080' });
    expect(new URL(config.databaseUrl!).hostname).toBe('postgres');
    expect(new URL(config.s3.endpoint!).hostname).toBe('minio');
    // The database the hub names is the one the postgres service creates, with the same password.
    const postgres = compose.services.postgres!.environment!;
    const url = new URL(config.databaseUrl!);
    expect([url.username, decodeURIComponent(url.password), url.pathname.slice(1)]).toEqual([postgres.POSTGRES_USER, withDefaults(postgres.POSTGRES_PASSWORD!), postgres.POSTGRES_DB]);
    const minio = compose.services.minio!.environment!;
    expect([config.s3.accessKey, config.s3.secretKey]).toEqual([withDefaults(minio.MINIO_ROOT_USER!), withDefaults(minio.MINIO_ROOT_PASSWORD!)]);
  });

  it('balances over the hub service on the port the hub listens on, checking /v2/health/ready', async () => {
    const compose = await load('replicas.compose.yaml');
    const cfg = await readFile(path.join(DEPLOY, 'haproxy.cfg'), 'utf8');
    expect(cfg).toMatch(new RegExp(`server-template \\S+ \\d+ hub:${compose.services.hub!.environment!.MODELHUB_PORT}\\b`));
    expect(cfg).toMatch(/option httpchk GET \/v2\/health\/ready/);
    expect(cfg).toMatch(/bind :8080/);
    expect(compose.services.haproxy!.ports).toContain('127.0.0.1:8080:8080');
  });
});

describe('deploy/ files against the real tools', () => {
  it('HAProxy accepts deploy/haproxy.cfg (haproxy -c)', async (context) => {
    const haproxy = tool('haproxy');
    if (!haproxy) return context.skip();
    const { stdout, stderr } = await run(haproxy, ['-c', '-f', path.join(DEPLOY, 'haproxy.cfg')]);
    expect(`${stdout}${stderr}`).toMatch(/Configuration file is valid/);
  });

  const compose = tool('docker-compose');
  it.skipIf(!compose).each(['replicas.compose.yaml', 'compose.yaml'])('docker-compose validates deploy/%s', async (file) => {
    // Debian's docker-compose is 1.29, whose schema predates the top-level `name`: drop it.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-compose-'));
    try {
      const text = (await readFile(path.join(DEPLOY, file), 'utf8')).replace(/^name: .*$/m, '');
      await writeFile(path.join(dir, file), text);
      const { stdout } = await run(compose!, ['-f', path.join(dir, file), '--project-directory', DEPLOY, 'config'], { env: { ...process.env, DOCKER_HOST: '' } });
      const resolved = parse(stdout) as ComposeFile;
      expect(Object.keys(resolved.services).length).toBe(Object.keys((await load(file)).services).length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
