/**
 * Configuration from the environment, with every default in one place. A bad value stops start-up
 * with a message that names the variable (`ConfigError`).
 */
import path from 'node:path';

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface HubConfig {
  port: number;
  host: string;
  dataDir: string;
  /** The URL clients reach the hub at; used in identifiers and landing pages. */
  publicUrl: string;
  blobs: 'fs' | 's3';
  s3: { endpoint?: string; bucket: string; accessKey?: string; secretKey?: string; region: string };
  search: 'sqlite' | 'elasticsearch';
  elasticsearch: { url?: string; username?: string; password?: string; apiKey?: string; index: string };
  containers: 'process' | 'docker';
  auth: 'open' | 'tokens';
  anonymousRead: boolean;
  maxUploadBytes: number;
  python: string;
  /** Publish demo servables on first start. */
  demo: boolean;
  identifiers: 'local' | 'datacite';
  datacite: { url: string; prefix?: string; repositoryId?: string; password?: string };
  /** How often identifiers left pending (DataCite down or refusing) are retried. */
  identifierRetryMs: number;
  gateway: {
    cacheBytes: number;
    residencyBytes: number;
    maxQueue: number;
    workerThreads: number;
    defaultDeadlineMs: number;
  };
  rateLimitPerMinute: number;
  logLevel: string;
}

type Env = Record<string, string | undefined>;

function oneOf<T extends string>(env: Env, variable: string, allowed: readonly T[], fallback: T): T {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(variable, `must be one of ${allowed.join(', ')}; got "${value}"`);
  }
  return value as T;
}

function integer(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(variable, `must be a whole number; got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) {
    throw new ConfigError(variable, `must be between ${min} and ${max}; got ${parsed}`);
  }
  return parsed;
}

function seconds(env: Env, variable: string, fallback: number, min: number, max: number): number {
  const value = env[variable];
  if (value === undefined || value === '') return fallback * 1000;
  const parsed = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || parsed < min || parsed > max) {
    throw new ConfigError(variable, `must be a number of seconds between ${min} and ${max}; got "${value}"`);
  }
  return Math.round(parsed * 1000);
}

function boolean(env: Env, variable: string, fallback: boolean): boolean {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (['true', '1', 'yes'].includes(value.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(value.toLowerCase())) return false;
  throw new ConfigError(variable, `must be true or false; got "${value}"`);
}

function required(env: Env, variable: string, because: string): string {
  const value = env[variable];
  if (value === undefined || value === '') throw new ConfigError(variable, `is required ${because}`);
  return value;
}

export function loadConfig(env: Env = process.env, overrides: Partial<HubConfig> = {}): HubConfig {
  const port = integer(env, 'MODELHUB_PORT', 8700, 0, 65535);
  const host = env.MODELHUB_HOST || '127.0.0.1';
  const blobs = oneOf(env, 'MODELHUB_BLOBS', ['fs', 's3'] as const, 'fs');
  const search = oneOf(env, 'MODELHUB_SEARCH', ['sqlite', 'elasticsearch'] as const, 'sqlite');
  const identifiers = oneOf(env, 'MODELHUB_IDENTIFIERS', ['local', 'datacite'] as const, 'local');
  const config: HubConfig = {
    port,
    host,
    dataDir: path.resolve(env.MODELHUB_DATA || './.modelhub'),
    publicUrl: (env.MODELHUB_PUBLIC_URL || `http://${host}:${port}`).replace(/\/+$/, ''),
    blobs,
    s3: {
      endpoint: blobs === 's3' ? required(env, 'MODELHUB_S3_ENDPOINT', 'when MODELHUB_BLOBS=s3') : env.MODELHUB_S3_ENDPOINT,
      bucket: env.MODELHUB_S3_BUCKET || 'modelhub',
      accessKey: env.MODELHUB_S3_ACCESS_KEY,
      secretKey: env.MODELHUB_S3_SECRET_KEY,
      region: env.MODELHUB_S3_REGION || 'us-east-1',
    },
    search,
    elasticsearch: {
      url: search === 'elasticsearch' ? required(env, 'MODELHUB_ES_URL', 'when MODELHUB_SEARCH=elasticsearch') : env.MODELHUB_ES_URL,
      username: env.MODELHUB_ES_USERNAME,
      password: env.MODELHUB_ES_PASSWORD,
      apiKey: env.MODELHUB_ES_API_KEY,
      index: env.MODELHUB_ES_INDEX || 'modelhub-servables',
    },
    containers: oneOf(env, 'MODELHUB_CONTAINERS', ['process', 'docker'] as const, 'process'),
    auth: oneOf(env, 'MODELHUB_AUTH', ['open', 'tokens'] as const, 'open'),
    anonymousRead: boolean(env, 'MODELHUB_ANONYMOUS_READ', true),
    maxUploadBytes: integer(env, 'MODELHUB_MAX_UPLOAD_MB', 2048, 1, 1024 * 1024) * 1024 * 1024,
    python: env.MODELHUB_PYTHON || '/usr/bin/python3',
    demo: boolean(env, 'MODELHUB_DEMO', true),
    identifiers,
    datacite: {
      url: (env.MODELHUB_DATACITE_URL || 'https://api.test.datacite.org').replace(/\/+$/, ''),
      prefix: identifiers === 'datacite' ? required(env, 'MODELHUB_DATACITE_PREFIX', 'when MODELHUB_IDENTIFIERS=datacite') : env.MODELHUB_DATACITE_PREFIX,
      repositoryId: identifiers === 'datacite' ? required(env, 'MODELHUB_DATACITE_REPOSITORY', 'when MODELHUB_IDENTIFIERS=datacite') : env.MODELHUB_DATACITE_REPOSITORY,
      password: env.MODELHUB_DATACITE_PASSWORD,
    },
    identifierRetryMs: seconds(env, 'MODELHUB_IDENTIFIER_RETRY_SECONDS', 60, 0.01, 86_400),
    gateway: {
      cacheBytes: integer(env, 'MODELHUB_CACHE_MB', 256, 0, 1024 * 1024) * 1024 * 1024,
      residencyBytes: integer(env, 'MODELHUB_RESIDENCY_MB', 4096, 1, 1024 * 1024) * 1024 * 1024,
      maxQueue: integer(env, 'MODELHUB_MAX_QUEUE', 1024, 1, 1_000_000),
      workerThreads: integer(env, 'MODELHUB_WORKER_THREADS', 0, 0, 256),
      defaultDeadlineMs: integer(env, 'MODELHUB_DEADLINE_MS', 60_000, 1, 3_600_000),
    },
    rateLimitPerMinute: integer(env, 'MODELHUB_RATE_LIMIT_PER_MINUTE', 0, 0, 10_000_000),
    logLevel: oneOf(env, 'MODELHUB_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  };
  return { ...config, ...overrides };
}
