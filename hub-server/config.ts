/**
 * Configuration from the environment, with every default in one place. A bad value stops start-up
 * with a message that names the variable (`ConfigError`).
 */
import path from 'node:path';
import type { GlobusConfig } from './adapters/globus-auth-client.ts';
import type { OidcConfig } from './adapters/oidc-relying-party.ts';

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
  search: 'sqlite' | 'elasticsearch' | 'postgres';
  /**
   * MODELHUB_DATABASE_URL: every piece of shared state in this PostgreSQL database (replicas share
   * it); undefined: the embedded SQLite files in the data folder.
   */
  databaseUrl?: string;
  elasticsearch: { url?: string; username?: string; password?: string; apiKey?: string; index: string };
  containers: 'process' | 'docker' | 'swarm';
  /** MODELHUB_CONTAINERS=swarm: how services are placed and reached (docs/containers.md). */
  swarm: SwarmConfig;
  auth: 'open' | 'tokens';
  anonymousRead: boolean;
  maxUploadBytes: number;
  /** Buckets a batch may read a data set from as an S3 prefix (MODELHUB_BATCH_S3_BUCKETS, comma-separated; none by default). */
  batchS3Buckets: string[];
  /** An upload whose body stops arriving for this long (the client went quiet) is answered 400 and cleaned up. */
  uploadIdleMs: number;
  python: string;
  /** Where pip finds the packages of declared environments (MODELHUB_PIP_INDEX_URL, MODELHUB_PIP_FIND_LINKS: comma-separated). */
  pip: { indexUrl?: string; findLinks: string[] };
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
  /** How often the hub pings each compute endpoint's agent (MODELHUB_ENDPOINT_HEARTBEAT_MS). */
  endpointHeartbeatMs: number;
  /** Publishing from git repositories: file:// and local paths allowed, time and size bounds. */
  git: { allowLocal: boolean; timeoutMs: number; maxBytes: number };
  rateLimitPerMinute: number;
  /** Audit events older than this many days are pruned (MODELHUB_AUDIT_RETENTION_DAYS, default 90). */
  auditRetentionDays: number;
  logLevel: string;
  /** Leftovers of publishes that died (upload folders, blobs no version names) are removed this often... */
  sweepIntervalMs: number;
  /** ...once they are this old: younger ones may belong to a publish or an upload still under way. */
  sweepGraceMs: number;
  /** PostgreSQL mode: a job (run, action, publish) whose replica is silent this long is resumed by another (MODELHUB_JOB_LEASE_SECONDS). */
  jobLeaseMs: number;
  /** Reproducibility checks re-run every version's examples this often (MODELHUB_VERIFY_INTERVAL; 0: never). */
  verifyIntervalMs: number;
  /** Webhook deliveries (docs/webhooks.md). */
  webhooks: WebhookConfig;
  /** Usage counts are written to their store this often (MODELHUB_USAGE_FLUSH_SECONDS; docs/usage.md). */
  usageFlushMs: number;
  /** Test hook for crash tests only (MODELHUB_TEST_PAUSE_AT_STEP): publishes stop at this step. */
  testPauseAtStep?: string;
  /** OpenID Connect sign-in and bearer JWTs (docs/access.md); undefined: not configured. */
  oidc?: OidcConfig;
  /** Globus Auth token introspection for the Action Provider; undefined: not configured. */
  globus?: GlobusConfig;
}

export interface SwarmConfig {
  /** MODELHUB_SWARM_CONSTRAINTS: placement constraints, comma-separated (`node.labels.modelhub==true`). */
  constraints: string[];
  /** MODELHUB_SWARM_PUBLISH: `host` (a port on the task's node) or `internal` (one-node swarm, no route out). */
  publish: 'host' | 'internal';
  /** MODELHUB_SWARM_NETWORK: the internal network's name when publish is `internal`. */
  network: string;
  /** MODELHUB_SWARM_REGISTRY: `host:port` of a registry every node pulls from; unset: images stay local. */
  registry?: string;
  /** MODELHUB_SWARM_NODE_ADDRESS: the address hubs use for every node instead of the node's own. */
  nodeAddress?: string;
}

export interface WebhookConfig {
  /** Attempts per delivery before it is marked failed (MODELHUB_WEBHOOK_ATTEMPTS). */
  attempts: number;
  /** First retry delay, doubled each time (MODELHUB_WEBHOOK_BACKOFF_SECONDS), up to backoffMaxMs (MODELHUB_WEBHOOK_BACKOFF_MAX_SECONDS). */
  backoffMs: number;
  backoffMaxMs: number;
  /** One attempt's time limit (MODELHUB_WEBHOOK_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** Finished deliveries stay in the delivery log this many days (MODELHUB_WEBHOOK_LOG_DAYS). */
  logDays: number;
  /** Deliver to loopback addresses (MODELHUB_WEBHOOK_ALLOW_LOOPBACK; tests, a receiver on the hub's host). */
  allowLoopback: boolean;
  /** Deliver to link-local and cloud metadata addresses (MODELHUB_WEBHOOK_ALLOW_LINK_LOCAL). */
  allowLinkLocal: boolean;
}

type Env = Record<string, string | undefined>;

function swarmConfig(env: Env): SwarmConfig {
  const constraints = (env.MODELHUB_SWARM_CONSTRAINTS ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
  for (const constraint of constraints) {
    // Swarm's own syntax: an attribute, == or !=, a value (node.role==worker, node.labels.gpu!=true).
    if (!/^[A-Za-z][\w.-]*\s*(==|!=)\s*[^\s=!]+$/.test(constraint)) {
      throw new ConfigError('MODELHUB_SWARM_CONSTRAINTS', `each constraint is attribute==value or attribute!=value; got "${constraint}"`);
    }
  }
  const registry = env.MODELHUB_SWARM_REGISTRY?.trim() || undefined;
  if (registry !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._/-]+)?$/.test(registry)) {
    throw new ConfigError('MODELHUB_SWARM_REGISTRY', `must be host:port of a registry, without a scheme; got "${registry}"`);
  }
  return {
    constraints,
    publish: oneOf(env, 'MODELHUB_SWARM_PUBLISH', ['host', 'internal'] as const, 'host'),
    network: env.MODELHUB_SWARM_NETWORK || 'modelhub-swarm-servables',
    ...(registry === undefined ? {} : { registry }),
    ...(env.MODELHUB_SWARM_NODE_ADDRESS ? { nodeAddress: env.MODELHUB_SWARM_NODE_ADDRESS.trim() } : {}),
  };
}

/** MODELHUB_BATCH_S3_BUCKETS: bucket names, comma-separated; they need MODELHUB_S3_ENDPOINT. */
function batchS3Buckets(env: Env): string[] {
  const buckets = (env.MODELHUB_BATCH_S3_BUCKETS ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  const bad = buckets.find((b) => !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b));
  if (bad !== undefined) throw new ConfigError('MODELHUB_BATCH_S3_BUCKETS', `"${bad}" is not an S3 bucket name`);
  if (buckets.length > 0 && !env.MODELHUB_S3_ENDPOINT) throw new ConfigError('MODELHUB_BATCH_S3_BUCKETS', 'needs MODELHUB_S3_ENDPOINT (and its keys)');
  return buckets;
}

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

/** A duration such as `24h`, `30m`, `90s`, `1.5h` or `0` (off), in ms. */
function interval(env: Env, variable: string, fallback: string): number {
  const value = (env[variable] ?? '').trim() || fallback;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match?.[2] ?? 's'];
  const ms = match ? Number(match[1]) * unit! : NaN;
  if (!Number.isFinite(ms) || (ms > 0 && ms < 1000) || ms > 366 * 86_400_000) {
    throw new ConfigError(variable, `must be 0 (off) or a duration from 1s to 366d such as 90s, 30m, 24h; got "${value}"`);
  }
  return Math.round(ms);
}

function boolean(env: Env, variable: string, fallback: boolean): boolean {
  const value = env[variable];
  if (value === undefined || value === '') return fallback;
  if (['true', '1', 'yes'].includes(value.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(value.toLowerCase())) return false;
  throw new ConfigError(variable, `must be true or false; got "${value}"`);
}

function url(env: Env, variable: string, fallback?: string): string | undefined {
  const value = env[variable] || fallback;
  if (value === undefined) return undefined;
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(variable, `must be an http(s) URL; got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

function oidcConfig(env: Env): OidcConfig | undefined {
  const issuer = url(env, 'MODELHUB_OIDC_ISSUER');
  if (issuer === undefined) return undefined;
  return {
    issuer,
    clientId: required(env, 'MODELHUB_OIDC_CLIENT_ID', 'when MODELHUB_OIDC_ISSUER is set'),
    clientSecret: required(env, 'MODELHUB_OIDC_CLIENT_SECRET', 'when MODELHUB_OIDC_ISSUER is set'),
    userClaim: env.MODELHUB_OIDC_USER_CLAIM || 'preferred_username',
    groupsClaim: env.MODELHUB_OIDC_GROUPS_CLAIM || 'groups',
    ...(env.MODELHUB_OIDC_ADMIN_GROUP ? { adminGroup: env.MODELHUB_OIDC_ADMIN_GROUP } : {}),
    clockSkewSeconds: integer(env, 'MODELHUB_OIDC_CLOCK_SKEW_SECONDS', 60, 0, 600),
    scopes: env.MODELHUB_OIDC_SCOPES || 'openid profile email',
    sessionSeconds: integer(env, 'MODELHUB_SESSION_HOURS', 8, 1, 24 * 90) * 3600,
  };
}

function globusConfig(env: Env): GlobusConfig | undefined {
  const clientId = env.MODELHUB_GLOBUS_CLIENT_ID;
  if (!clientId) return undefined;
  return {
    clientId,
    clientSecret: required(env, 'MODELHUB_GLOBUS_CLIENT_SECRET', 'when MODELHUB_GLOBUS_CLIENT_ID is set'),
    authUrl: url(env, 'MODELHUB_GLOBUS_AUTH_URL', 'https://auth.globus.org')!,
    groupsUrl: url(env, 'MODELHUB_GLOBUS_GROUPS_URL', 'https://groups.api.globus.org')!,
    // A resource server's own scopes are named after its client id (Globus Auth's scope strings).
    scope: env.MODELHUB_GLOBUS_SCOPE || `https://auth.globus.org/scopes/${clientId}/action_all`,
  };
}

/** A `postgres://` (or `postgresql://`) URL; the message never repeats a password. */
function databaseUrl(env: Env): string | undefined {
  const value = env.MODELHUB_DATABASE_URL;
  if (value === undefined || value === '') return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') || (parsed.hostname === '' && !parsed.searchParams.get('host'))) {
    throw new ConfigError('MODELHUB_DATABASE_URL', 'must be a PostgreSQL URL such as postgres://user:password@host:5432/database');
  }
  return value;
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
  const search = oneOf(env, 'MODELHUB_SEARCH', ['sqlite', 'elasticsearch', 'postgres'] as const, 'sqlite');
  const database = databaseUrl(env);
  if (search === 'postgres' && database === undefined) throw new ConfigError('MODELHUB_SEARCH', 'postgres needs MODELHUB_DATABASE_URL');
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
    ...(database === undefined ? {} : { databaseUrl: database }),
    elasticsearch: {
      url: search === 'elasticsearch' ? required(env, 'MODELHUB_ES_URL', 'when MODELHUB_SEARCH=elasticsearch') : env.MODELHUB_ES_URL,
      username: env.MODELHUB_ES_USERNAME,
      password: env.MODELHUB_ES_PASSWORD,
      apiKey: env.MODELHUB_ES_API_KEY,
      index: env.MODELHUB_ES_INDEX || 'modelhub-servables',
    },
    containers: oneOf(env, 'MODELHUB_CONTAINERS', ['process', 'docker', 'swarm'] as const, 'process'),
    swarm: swarmConfig(env),
    auth: oneOf(env, 'MODELHUB_AUTH', ['open', 'tokens'] as const, 'open'),
    anonymousRead: boolean(env, 'MODELHUB_ANONYMOUS_READ', true),
    maxUploadBytes: integer(env, 'MODELHUB_MAX_UPLOAD_MB', 2048, 1, 1024 * 1024) * 1024 * 1024,
    batchS3Buckets: batchS3Buckets(env),
    uploadIdleMs: seconds(env, 'MODELHUB_UPLOAD_IDLE_SECONDS', 60, 0.1, 86_400),
    python: env.MODELHUB_PYTHON || '/usr/bin/python3',
    pip: {
      indexUrl: env.MODELHUB_PIP_INDEX_URL || undefined,
      findLinks: (env.MODELHUB_PIP_FIND_LINKS ?? '').split(',').map((link) => link.trim()).filter((link) => link !== ''),
    },
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
    git: {
      allowLocal: boolean(env, 'MODELHUB_GIT_ALLOW_LOCAL', false),
      timeoutMs: seconds(env, 'MODELHUB_GIT_TIMEOUT_SECONDS', 120, 1, 86_400),
      maxBytes: integer(env, 'MODELHUB_GIT_MAX_MB', 1024, 1, 1024 * 1024) * 1024 * 1024,
    },
    endpointHeartbeatMs: integer(env, 'MODELHUB_ENDPOINT_HEARTBEAT_MS', 15_000, 100, 600_000),
    rateLimitPerMinute: integer(env, 'MODELHUB_RATE_LIMIT_PER_MINUTE', 0, 0, 10_000_000),
    auditRetentionDays: integer(env, 'MODELHUB_AUDIT_RETENTION_DAYS', 90, 1, 36_500),
    logLevel: oneOf(env, 'MODELHUB_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    sweepIntervalMs: seconds(env, 'MODELHUB_SWEEP_INTERVAL_SECONDS', 3600, 0.01, 7 * 86_400),
    sweepGraceMs: seconds(env, 'MODELHUB_SWEEP_GRACE_SECONDS', 6 * 3600, 0, 30 * 86_400),
    jobLeaseMs: seconds(env, 'MODELHUB_JOB_LEASE_SECONDS', 30, 1, 3600),
    verifyIntervalMs: interval(env, 'MODELHUB_VERIFY_INTERVAL', '24h'),
    webhooks: {
      attempts: integer(env, 'MODELHUB_WEBHOOK_ATTEMPTS', 8, 1, 100),
      backoffMs: seconds(env, 'MODELHUB_WEBHOOK_BACKOFF_SECONDS', 10, 0.01, 86_400),
      backoffMaxMs: seconds(env, 'MODELHUB_WEBHOOK_BACKOFF_MAX_SECONDS', 3600, 0.01, 7 * 86_400),
      timeoutMs: seconds(env, 'MODELHUB_WEBHOOK_TIMEOUT_SECONDS', 10, 0.1, 300),
      logDays: integer(env, 'MODELHUB_WEBHOOK_LOG_DAYS', 30, 1, 36_500),
      allowLoopback: boolean(env, 'MODELHUB_WEBHOOK_ALLOW_LOOPBACK', false),
      allowLinkLocal: boolean(env, 'MODELHUB_WEBHOOK_ALLOW_LINK_LOCAL', false),
    },
    usageFlushMs: seconds(env, 'MODELHUB_USAGE_FLUSH_SECONDS', 60, 0.01, 86_400),
    ...(env.MODELHUB_TEST_PAUSE_AT_STEP ? { testPauseAtStep: env.MODELHUB_TEST_PAUSE_AT_STEP } : {}),
  };
  const oidc = oidcConfig(env);
  if (oidc) config.oidc = oidc;
  const globus = globusConfig(env);
  if (globus) config.globus = globus;
  return { ...config, ...overrides };
}
