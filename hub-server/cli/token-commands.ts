/**
 * `modelhub token create|list|revoke`. Two ways to reach the tokens:
 * - on a hub, through `/api/v1/tokens` with a token (`--url`, MODELHUB_URL, or the saved login);
 * - on the data folder itself (`--data <dir>`, or when no hub URL is given: MODELHUB_DATA or
 *   ./.modelhub), which is how the first admin token of a fresh hub is made:
 *   `modelhub token create --user admin --admin`. It works while the hub runs.
 * Secrets are printed once, on creation; `list` never shows them.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { TokenInfo, TokenScope } from '../../schemas/ports/token-store.ts';
import { formatTable, processOutput, type Output } from '../../sdk/cli-output.ts';
import { commandKit } from '../../sdk/cli-commands.ts';
import { apiUrl, hubJson, jsonBody, type HubParams } from '../../sdk/http.ts';
import { resolveConnection } from '../../sdk/saved-login.ts';

export type CreatedTokenReply = TokenInfo & { token: string };

export interface CreateTokenParams {
  user?: string;
  groups?: string[];
  scopes?: TokenScope[];
  label?: string;
  expires_at?: string;
}

// ---- on a hub ----------------------------------------------------------------------------------

export function createToken(params: HubParams, request: CreateTokenParams): Promise<CreatedTokenReply> {
  return hubJson(params, apiUrl(params, '/tokens'), { method: 'POST', ...jsonBody(request) });
}

export async function listTokens(params: HubParams, filter: { user?: string } = {}): Promise<TokenInfo[]> {
  const query = new URLSearchParams(filter.user ? { user: filter.user } : {});
  return (await hubJson<{ tokens: TokenInfo[] }>(params, apiUrl(params, '/tokens', query))).tokens;
}

export function revokeToken(params: HubParams, id: string): Promise<TokenInfo> {
  return hubJson(params, apiUrl(params, `/tokens/${encodeURIComponent(id)}`), { method: 'DELETE' });
}

// ---- on the data folder ------------------------------------------------------------------------

/** In PostgreSQL mode the hubs' tokens are in the database (MODELHUB_DATABASE_URL), not the folder. */
async function openSharedTokenStore(url: string): Promise<import('../../schemas/ports/token-store.ts').TokenStore> {
  const { PostgresDatabase } = await import('../adapters/postgres-database.ts');
  const { PostgresTokenStore } = await import('../adapters/postgres-token-store.ts');
  const database = PostgresDatabase.open(url);
  try {
    return await PostgresTokenStore.open(database);
  } finally {
    await database.close(); // the store holds its own share of the pool
  }
}

async function openSharedAuditStore(url: string): Promise<import('../../schemas/ports/audit-store.ts').AuditStore> {
  const { PostgresDatabase } = (await import(new URL('../adapters/postgres-database.ts', import.meta.url).href)) as typeof import('../adapters/postgres-database.ts');
  const { PostgresAuditStore } = (await import(new URL('../adapters/postgres-audit-store.ts', import.meta.url).href)) as typeof import('../adapters/postgres-audit-store.ts');
  const database = PostgresDatabase.open(url);
  try {
    return await PostgresAuditStore.open(database);
  } finally {
    await database.close(); // the store holds its own share of the pool
  }
}

/** Opens the folder's token store and audit log (the server's own modules, loaded on demand). */
async function withLocalStore<T>(dataDir: string, work: (store: import('../../schemas/ports/token-store.ts').TokenStore, audit: (event: { action: 'token.create' | 'token.revoke'; target: string; detail?: unknown }) => void) => Promise<T>): Promise<T> {
  const { SqliteTokenStore } = await import('../adapters/sqlite-token-store.ts');
  const { AuditLog } = await import('../adapters/audit-log.ts');
  const store = process.env.MODELHUB_DATABASE_URL ? await openSharedTokenStore(process.env.MODELHUB_DATABASE_URL) : SqliteTokenStore.open(SqliteTokenStore.fileIn(dataDir));
  // Beside PostgreSQL-mode hubs the event goes to their shared audit log.
  const log = process.env.MODELHUB_DATABASE_URL ? new AuditLog(await openSharedAuditStore(process.env.MODELHUB_DATABASE_URL)) : AuditLog.open(AuditLog.fileIn(dataDir));
  try {
    return await work(store, (event) => log.record({ ...event, actor: 'local' }));
  } finally {
    await store.close();
    await log.close();
  }
}

/** `30d`, `12h`, `90m`, a bare number of days, or an ISO date-time → an ISO date-time. */
export function parseExpiry(value: string, now = Date.now()): string {
  const relative = /^(\d+(?:\.\d+)?)\s*([dhm]?)$/.exec(value.trim());
  if (relative) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, '': 86_400_000 }[relative[2] as 'd' | 'h' | 'm' | ''];
    return new Date(now + Number(relative[1]) * unit).toISOString();
  }
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw new TypeError(`--expires "${value}" is neither a duration (30d, 12h) nor a date`);
  if (at <= now) throw new TypeError(`--expires ${value} is not in the future`);
  return new Date(at).toISOString();
}

const SCOPES: readonly TokenScope[] = ['read', 'run', 'publish', 'admin'];

function tokenTable(tokens: TokenInfo[]): string {
  if (tokens.length === 0) return 'no tokens';
  const state = (t: TokenInfo) => (t.revoked_at ? 'revoked' : t.expires_at && Date.parse(t.expires_at) <= Date.now() ? 'expired' : 'active');
  return formatTable(
    ['ID', 'USER', 'SCOPES', 'GROUPS', 'STATE', 'EXPIRES', 'LAST USED', 'LABEL'],
    tokens.map((t) => [t.id, t.user, t.scopes.join(','), t.groups.join(',') || '-', state(t), t.expires_at ?? 'never', t.last_used_at ?? 'never', t.label ?? '']),
  );
}

export function registerTokenCommands(program: Command, output: Output = processOutput): Command {
  const token = program
    .command('token')
    .description('Create, list and revoke API tokens (on a hub with --url, or on the local data folder)');

  const kit = commandKit(output);
  const globals = (command: Command) => kit.globals<{ data?: string }>(command);
  /** The data folder when acting locally; undefined when talking to a hub. */
  const localDir = (command: Command): string | undefined => {
    const { data, url } = globals(command);
    if (data) return path.resolve(data);
    if (url || process.env.MODELHUB_URL) return undefined;
    return path.resolve(process.env.MODELHUB_DATA || './.modelhub');
  };
  const hub = (command: Command): HubParams => {
    const { url, token: accessToken } = globals(command);
    const connection = resolveConnection({ ...(url ? { url } : {}), ...(accessToken ? { token: accessToken } : {}) });
    return { hubUrl: connection.url, ...(connection.token ? { accessToken: connection.token } : {}) };
  };
  const { print, action } = kit;
  const dataOption = ['--data <dir>', 'act on this data folder directly (default when no hub URL is given: $MODELHUB_DATA or ./.modelhub)'] as const;

  token
    .command('create')
    .description('create a token; its secret is printed once')
    .option('--user <user>', 'whose token (default on a hub: yours)')
    .option('--group <group>', 'a group of the user (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--scope <scope>', `${SCOPES.join(' | ')} (repeatable; default read, run, publish)`, (v: string, prev: string[] = []) => [...prev, v])
    .option('--admin', 'add the admin scope (every owner, the token API, the audit log)')
    .option('--expires <when>', 'lifetime (30d, 12h) or a date (default: never)')
    .option('--label <text>', 'what the token is for')
    .option(...dataOption)
    .action(
      action(async (options: { user?: string; group?: string[]; scope?: string[]; admin?: boolean; expires?: string; label?: string }, command: Command) => {
        for (const scope of options.scope ?? []) {
          if (!SCOPES.includes(scope as TokenScope)) throw new TypeError(`--scope ${scope} is not one of ${SCOPES.join(', ')}`);
        }
        const scopes = [...new Set([...((options.scope as TokenScope[] | undefined) ?? (options.admin ? [] : ['read', 'run', 'publish'])), ...(options.admin ? ['admin' as const] : [])])];
        const request: CreateTokenParams = {
          ...(options.user ? { user: options.user } : {}),
          ...(options.group ? { groups: options.group } : {}),
          scopes,
          ...(options.label ? { label: options.label } : {}),
          ...(options.expires ? { expires_at: parseExpiry(options.expires) } : {}),
        };
        const dir = localDir(command);
        let created: CreatedTokenReply;
        if (dir) {
          if (!options.user) throw new TypeError('--user is required when acting on the data folder');
          const { USER_PATTERN, GROUP_PATTERN } = await import('../../schemas/ports/token-store.ts');
          if (!new RegExp(USER_PATTERN).test(options.user)) throw new TypeError(`--user "${options.user}" is not a valid user name (${USER_PATTERN})`);
          for (const group of options.group ?? []) {
            if (!new RegExp(GROUP_PATTERN).test(group)) throw new TypeError(`--group "${group}" is not a valid group name (${GROUP_PATTERN})`);
          }
          created = await withLocalStore(dir, async (store, audit) => {
            const made = await store.create({ ...request, user: options.user!, scopes, created_by: 'local' });
            audit({ action: 'token.create', target: made.info.id, detail: { user: made.info.user, groups: made.info.groups, scopes: made.info.scopes, expires_at: made.info.expires_at } });
            return { ...made.info, token: made.token };
          });
        } else {
          created = await createToken(hub(command), request);
        }
        print(command, created, () =>
          [
            `created ${created.id} for ${created.user} (${created.scopes.join(', ')}${created.groups.length ? `; groups ${created.groups.join(', ')}` : ''}${created.expires_at ? `; expires ${created.expires_at}` : ''})`,
            '',
            `  ${created.token}`,
            '',
            'Keep it now: the hub stores only its hash and cannot show it again.',
          ].join('\n'),
        );
      }),
    );

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--user <user>', 'only this user\'s tokens')
    .option(...dataOption)
    .action(
      action(async (options: { user?: string }, command: Command) => {
        const dir = localDir(command);
        const tokens = dir ? await withLocalStore(dir, (store) => store.list(options.user ? { user: options.user } : {})) : await listTokens(hub(command), options);
        print(command, { tokens }, () => tokenTable(tokens));
      }),
    );

  token
    .command('revoke')
    .description('revoke a token by its id (tok_...)')
    .argument('<id>', 'the token id, as `token list` shows it')
    .option(...dataOption)
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const dir = localDir(command);
        let revoked: TokenInfo;
        if (dir) {
          revoked = await withLocalStore(dir, async (store, audit) => {
            const before = await store.get(id);
            if (!before) throw Object.assign(new Error(`No token ${id}`), { code: 'MODELHUB_TOKEN_NOT_FOUND' });
            const after = (await store.revoke(id))!;
            if (!before.revoked_at) audit({ action: 'token.revoke', target: id, detail: { user: before.user } });
            return after;
          });
        } else {
          revoked = await revokeToken(hub(command), id);
        }
        print(command, revoked, () => `revoked ${revoked.id} (${revoked.user}) at ${revoked.revoked_at}`);
      }),
    );
  return token;
}
