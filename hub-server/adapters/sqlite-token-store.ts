/**
 * The embedded token store: `tokens.db` in the data folder (WAL), apart from the registry. Secrets
 * are 32 random bytes behind a recognisable `mh_` prefix (so secret scanners can find leaked ones);
 * only their sha256 is kept, which is enough for a lookup because the secrets are high-entropy.
 * The CLI may open the same file while the hub runs: every check reads the row, so a revocation
 * from either side takes effect on the next request.
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteFile } from './sqlite-open.ts';
import { HubError } from '../../schemas/errors.ts';
import type { CreatedToken, IdentityLink, NewIdentityLink, NewToken, TokenInfo, TokenScope, TokenStore } from '../../schemas/ports/token-store.ts';

export const TOKEN_PREFIX = 'mh_';
const SECRET_PATTERN = /^mh_[A-Za-z0-9_-]{43}$/;
/** Writing last_used_at on every request would serialise reads behind the write lock. */
const LAST_USED_RESOLUTION_MS = 60_000;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    user         TEXT NOT NULL,
    groups       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    label        TEXT,
    created_at   TEXT NOT NULL,
    created_by   TEXT,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
  );
  CREATE INDEX tokens_by_user ON tokens (user, created_at);

  CREATE TABLE task_creators (
    task_id TEXT PRIMARY KEY,
    user    TEXT
  );
  `,
  `
  CREATE TABLE identity_links (
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user         TEXT NOT NULL,
    groups       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
  );
  CREATE INDEX identity_links_by_user ON identity_links (user, created_at);
  `,
];

interface IdentityRow {
  issuer: string;
  subject: string;
  user: string;
  groups: string;
  created_at: string;
  last_seen_at: string;
}

const toLink = (row: IdentityRow): IdentityLink => ({ ...row, groups: JSON.parse(row.groups) as string[] });

interface TokenRow {
  id: string;
  hash: string;
  prefix: string;
  user: string;
  groups: string;
  scopes: string;
  label: string | null;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

function toInfo(row: TokenRow): TokenInfo {
  const info: TokenInfo = {
    id: row.id,
    user: row.user,
    groups: JSON.parse(row.groups) as string[],
    scopes: JSON.parse(row.scopes) as TokenScope[],
    prefix: row.prefix,
    created_at: row.created_at,
  };
  if (row.label !== null) info.label = row.label;
  if (row.created_by !== null) info.created_by = row.created_by;
  if (row.expires_at !== null) info.expires_at = row.expires_at;
  if (row.revoked_at !== null) info.revoked_at = row.revoked_at;
  if (row.last_used_at !== null) info.last_used_at = row.last_used_at;
  return info;
}

function translate<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
      throw new HubError('BACKEND_UNAVAILABLE', 'the token database is busy; try again', { cause: error, retryAfter: 1 });
    }
    throw error;
  }
}

export class SqliteTokenStore implements TokenStore {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string): SqliteTokenStore {
    const db = openSqliteFile(file, MIGRATIONS, 'token store');
    return new SqliteTokenStore(db);
  }

  /** The file a hub with this data folder uses. */
  static fileIn(dataDir: string): string {
    return path.join(dataDir, 'tokens.db');
  }

  async create(input: NewToken): Promise<CreatedToken> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row: TokenRow = {
      id: `tok_${randomBytes(8).toString('hex')}`,
      hash: hashSecret(token),
      prefix: token.slice(0, TOKEN_PREFIX.length + 6),
      user: input.user,
      groups: JSON.stringify([...new Set(input.groups ?? [])].sort()),
      scopes: JSON.stringify([...new Set(input.scopes)].sort()),
      label: input.label ?? null,
      created_at: new Date().toISOString(),
      created_by: input.created_by ?? null,
      expires_at: input.expires_at ?? null,
      revoked_at: null,
      last_used_at: null,
    };
    translate(() =>
      this.db
        .prepare(
          `INSERT INTO tokens (id, hash, prefix, user, groups, scopes, label, created_at, created_by, expires_at, revoked_at, last_used_at)
           VALUES (@id, @hash, @prefix, @user, @groups, @scopes, @label, @created_at, @created_by, @expires_at, @revoked_at, @last_used_at)`,
        )
        .run(row),
    );
    return { token, info: toInfo(row) };
  }

  async verify(secret: string): Promise<TokenInfo | undefined> {
    if (!SECRET_PATTERN.test(secret)) return undefined;
    const row = this.db.prepare('SELECT * FROM tokens WHERE hash = ?').get(hashSecret(secret)) as TokenRow | undefined;
    if (!row || row.revoked_at !== null) return undefined;
    const now = new Date();
    if (row.expires_at !== null && Date.parse(row.expires_at) <= now.getTime()) return undefined;
    if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      row.last_used_at = now.toISOString();
      try {
        this.db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(row.last_used_at, row.id);
      } catch {
        // A busy database must not turn a valid token away; the next use records it.
      }
    }
    return toInfo(row);
  }

  async get(id: string): Promise<TokenInfo | undefined> {
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row ? toInfo(row) : undefined;
  }

  async list(filter: { user?: string } = {}): Promise<TokenInfo[]> {
    const rows = (
      filter.user === undefined
        ? this.db.prepare('SELECT * FROM tokens ORDER BY created_at DESC, id').all()
        : this.db.prepare('SELECT * FROM tokens WHERE user = ? ORDER BY created_at DESC, id').all(filter.user)
    ) as TokenRow[];
    return rows.map(toInfo);
  }

  async revoke(id: string): Promise<TokenInfo | undefined> {
    translate(() =>
      this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date().toISOString(), id),
    );
    return this.get(id);
  }

  async linkIdentity(input: NewIdentityLink): Promise<IdentityLink> {
    const now = new Date().toISOString();
    const groups = JSON.stringify([...new Set(input.groups ?? [])].sort());
    // One immediate transaction: two first sign-ins racing for one name cannot both win.
    return translate(() =>
      this.db.transaction((): IdentityLink => {
        const existing = this.db
          .prepare('SELECT * FROM identity_links WHERE issuer = ? AND subject = ?')
          .get(input.issuer, input.subject) as IdentityRow | undefined;
        if (existing) {
          if (existing.user !== input.user) {
            throw new HubError('CONFLICT', `this identity is already linked to the user ${existing.user}`);
          }
          const updated = { ...existing, groups: input.groups === undefined ? existing.groups : groups, last_seen_at: now };
          this.db.prepare('UPDATE identity_links SET groups = @groups, last_seen_at = @last_seen_at WHERE issuer = @issuer AND subject = @subject').run(updated);
          return toLink(updated);
        }
        if (input.mode === 'claim') {
          const taken = this.db.prepare('SELECT 1 FROM identity_links WHERE user = ? LIMIT 1').get(input.user);
          if (taken) throw new HubError('CONFLICT', `the user name ${input.user} already belongs to another identity`);
        }
        const latest = this.db.prepare('SELECT MAX(created_at) AS at FROM identity_links WHERE user = ?').get(input.user) as { at: string | null };
        const createdAt = laterThan(latest.at, now);
        const row: IdentityRow = { issuer: input.issuer, subject: input.subject, user: input.user, groups, created_at: createdAt, last_seen_at: now };
        this.db
          .prepare('INSERT INTO identity_links (issuer, subject, user, groups, created_at, last_seen_at) VALUES (@issuer, @subject, @user, @groups, @created_at, @last_seen_at)')
          .run(row);
        return toLink(row);
      }).immediate(),
    );
  }

  async findIdentity(issuer: string, subject: string): Promise<IdentityLink | undefined> {
    const row = this.db.prepare('SELECT * FROM identity_links WHERE issuer = ? AND subject = ?').get(issuer, subject) as IdentityRow | undefined;
    return row ? toLink(row) : undefined;
  }

  async identitiesOf(user: string): Promise<IdentityLink[]> {
    const rows = this.db.prepare('SELECT * FROM identity_links WHERE user = ? ORDER BY created_at, issuer, subject').all(user) as IdentityRow[];
    return rows.map(toLink);
  }

  async setTaskCreator(taskId: string, user: string | null): Promise<void> {
    translate(() => this.db.prepare('INSERT OR REPLACE INTO task_creators (task_id, user) VALUES (?, ?)').run(taskId, user));
  }

  async getTaskCreator(taskId: string): Promise<string | null | undefined> {
    const row = this.db.prepare('SELECT user FROM task_creators WHERE task_id = ?').get(taskId) as { user: string | null } | undefined;
    return row ? row.user : undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/**
 * `now`, or a millisecond after `previous` when that is not earlier: a user's identities are listed
 * oldest first, and two links made within one millisecond would otherwise tie.
 */
export function laterThan(previous: string | null | undefined, now: string): string {
  if (!previous || previous < now) return now;
  return new Date(Date.parse(previous) + 1).toISOString();
}
