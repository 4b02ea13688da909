/**
 * The saved login of `modelhub login`: `~/.config/modelhub/config.json` (or `$MODELHUB_CONFIG`),
 * readable by its owner only since it holds a token.
 */
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export interface SavedLogin {
  url?: string;
  token?: string;
  /** From a device sign-in (`modelhub login` where the hub offers OpenID Connect): renews `token`. */
  refresh_token?: string;
  /** When `token` expires (ISO date-time). */
  expires_at?: string;
}

export const DEFAULT_HUB_URL = 'http://127.0.0.1:8700';

export function savedLoginPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELHUB_CONFIG) return path.resolve(env.MODELHUB_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(base, 'modelhub', 'config.json');
}

export function readSavedLogin(env: NodeJS.ProcessEnv = process.env): SavedLogin {
  try {
    const saved = JSON.parse(readFileSync(savedLoginPath(env), 'utf8')) as SavedLogin;
    return {
      ...(typeof saved.url === 'string' ? { url: saved.url } : {}),
      ...(typeof saved.token === 'string' ? { token: saved.token } : {}),
      ...(typeof saved.refresh_token === 'string' ? { refresh_token: saved.refresh_token } : {}),
      ...(typeof saved.expires_at === 'string' ? { expires_at: saved.expires_at } : {}),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read the saved login at ${savedLoginPath(env)}: ${(error as Error).message}`);
  }
}

export function saveLogin(login: SavedLogin, env: NodeJS.ProcessEnv = process.env): string {
  const file = savedLoginPath(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/**
 * Where the hub is and which token to use: explicit options, then MODELHUB_URL / MODELHUB_TOKEN,
 * then the saved login, then the local default. A saved token is only sent to its saved URL.
 */
export function resolveConnection(
  options: { url?: string; token?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): { url: string; token?: string } {
  const saved = readSavedLogin(env);
  const url = (options.url || env.MODELHUB_URL || saved.url || DEFAULT_HUB_URL).replace(/\/+$/, '');
  const savedUrl = (saved.url || DEFAULT_HUB_URL).replace(/\/+$/, '');
  const token = options.token || env.MODELHUB_TOKEN || (savedUrl === url ? saved.token : undefined);
  return token ? { url, token } : { url };
}

/** Renew the saved token this long before it expires, so a command never starts with one about to lapse. */
const REFRESH_MARGIN_MS = 60_000;

/**
 * Where the saved login came from a device sign-in and its token has (nearly) expired: a fresh
 * one from the hub, saved. Nothing happens for other tokens, or when the command names its own.
 */
export async function refreshSavedLogin(
  refresh: (url: string, refreshToken: string) => Promise<{ access_token: string; refresh_token?: string; expires_in?: number }>,
  options: { url?: string; token?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  const saved = readSavedLogin(env);
  if (!saved.refresh_token || !saved.expires_at || options.token || env.MODELHUB_TOKEN) return false;
  const { url } = resolveConnection(options, env);
  if (url !== (saved.url || DEFAULT_HUB_URL).replace(/\/+$/, '')) return false;
  if (Date.parse(saved.expires_at) - Date.now() > REFRESH_MARGIN_MS) return false;
  const tokens = await refresh(url, saved.refresh_token);
  saveLogin(
    {
      ...saved,
      token: tokens.access_token,
      refresh_token: tokens.refresh_token ?? saved.refresh_token,
      ...(tokens.expires_in === undefined ? { expires_at: undefined } : { expires_at: new Date(Date.now() + tokens.expires_in * 1000).toISOString() }),
    },
    env,
  );
  return true;
}
